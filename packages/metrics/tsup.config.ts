import { packageBuild } from '../../tsup.base.js'

// shims: import.meta.url in the CommonJS build too, for the lazy require of the optional peers.
export default packageBuild({ index: 'src/index.ts' }, { shims: true })
