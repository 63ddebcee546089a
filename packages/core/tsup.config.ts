import { packageBuild } from '../../tsup.base.js'

export default packageBuild({
  index: 'src/index.ts',
  web: 'src/web.ts',
  node: 'src/node.ts',
  testing: 'src/testing/index.ts',
})
