import { packageBuild } from '../../tsup.base.js'

// bin.ts starts with a shebang, which esbuild keeps on the entry.
export default packageBuild({ index: 'src/index.ts', bin: 'src/bin.ts' })
