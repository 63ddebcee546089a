import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'vitest'
import { playExampleContract, startExample } from '../../test/example-server.js'

const SECRET = 'whsec_example_node_http'
const dir = dirname(fileURLToPath(import.meta.url))

describe('examples/node-http', () => {
  it('verifies, acknowledges, dedupes, rejects and drains on SIGTERM', async () => {
    const server = await startExample(join(dir, 'server.mjs'), { POCKETSFLOW_WEBHOOK_SECRET: SECRET })
    try {
      await playExampleContract(server, { secret: SECRET, orderId: 'order_ex1' })
    } finally {
      server.child.kill()
    }
  })
})
