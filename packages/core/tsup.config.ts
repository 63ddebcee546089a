import { packageBuild } from '../../tsup.base.js'

export default packageBuild({
  index: 'src/index.ts',
  web: 'src/web.ts',
  node: 'src/node.ts',
  inbox: 'src/inbox-toolkit.ts',
  testing: 'src/testing/index.ts',
})
