import { packageBuild } from '../../tsup.base.js'

export default packageBuild(
  {
    index: 'src/index.ts',
    web: 'src/web.ts',
    node: 'src/node.ts',
    inbox: 'src/inbox-toolkit.ts',
    testing: 'src/testing/index.ts',
  },
  // Shared chunks in the CommonJS build too (as in ESM): the entries share one copy of the modules
  // with state (the payload texts the receiver keeps for an inbox's serializeEvent, the error
  // classes), so that what /inbox reads is what the root's receiver wrote.
  { splitting: true },
)
