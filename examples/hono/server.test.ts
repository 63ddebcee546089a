import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { playExampleContract, startExample } from '../../test/example-server.js'

const SECRET = 'whsec_example_hono'
const dir = dirname(fileURLToPath(import.meta.url))

describe('examples/hono (Hono on Node.js)', () => {
  it('verifies, acknowledges, dedupes, rejects, hands the event to middleware on c.var and drains on SIGTERM', async () => {
    const server = await startExample(join(dir, 'server.mjs'), { POCKETSFLOW_WEBHOOK_SECRET: SECRET })
    try {
      await playExampleContract(server, { secret: SECRET, orderId: 'order_hono1' })
      // The middleware before the webhook read each accepted event on c.var, once: the duplicate set none.
      expect(server.output().match(/received order\.completed/g)).toHaveLength(1)
      expect(server.output()).toMatch(/received customer\.subscription\.paused/)
    } finally {
      server.child.kill()
    }
  })
})
