import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { startExample } from '../../test/example-server.js'

const SECRET = 'whsec_example_node_http'
const dir = dirname(fileURLToPath(import.meta.url))

describe('examples/node-http', () => {
  it('verifies, acknowledges, dedupes, rejects and drains on SIGTERM', async () => {
    const server = await startExample(join(dir, 'server.mjs'), { POCKETSFLOW_WEBHOOK_SECRET: SECRET })
    try {
      const post = (req: { headers: Record<string, string>; body: string }, init: RequestInit = {}) =>
        fetch(server.url, { method: 'POST', headers: req.headers, body: req.body, ...init })
      const order = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { order: { id: 'order_ex1' } } })
      expect((await post(order)).status).toBe(200)
      expect(await (await post(order)).json()).toEqual({ received: true, duplicate: true })
      expect(await server.waitFor('order order_ex1')).toContain('order order_ex1: grant access')

      const paused = await signedRequest({ secret: SECRET, type: 'customer.subscription.pause' })
      expect((await post(paused)).status).toBe(200)
      expect(await server.waitFor('subscription paused')).toContain('subscription paused')

      expect((await post({ ...order, body: order.body.replace('order_ex1', 'order_ex2') })).status).toBe(401)
      expect((await post(await signedRequest({ secret: SECRET, type: 'order.completed', timestamp: Date.now() - 3_600_000 }))).status).toBe(401)
      expect((await fetch(server.url)).status).toBe(405)
      const huge = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { padding: 'x'.repeat(2 * 1024 * 1024) } })
      expect((await post(huge)).status).toBe(413)
      expect((await fetch(`${server.base}/other`)).status).toBe(404)

      server.child.kill('SIGTERM')
      expect(await server.exited).toBe(0)
      expect(server.output()).toContain('drained, bye')
    } finally {
      server.child.kill()
    }
  })
})
