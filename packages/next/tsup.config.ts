import { packageBuild } from '../../tsup.base.js'

// `edge` is what the `edge-light` export condition selects (Next.js Edge runtime): Web Crypto only.
// `next` is a peer dependency, so `next/server.js` stays an import of the user's own Next.js.
export default packageBuild({ index: 'src/index.ts', edge: 'src/edge.ts' }, { external: ['next', /^next\//] })
