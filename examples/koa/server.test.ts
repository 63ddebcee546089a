import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { startExample } from '../../test/example-server.js'

const SECRET = 'whsec_example_koa'
const dir = dirname(fileURLToPath(import.meta.url))

describe('examples/koa', () => {
  it('verifies, acknowledges, dedupes, rejects, serves the rest of the app and drains on SIGTERM', async () => {
    const server = await startExample(join(dir, 'server.mjs'), { POCKETSFLOW_WEBHOOK_SECRET: SECRET })
    try {
      expect(server.url).toBe(`${server.base}/webhooks/pocketsflow`)
      const post = (req: { headers: Record<string, string>; body: string }) =>
        fetch(server.url, { method: 'POST', headers: req.headers, body: req.body })

      const order = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { order: { id: 'order_koa1' } } })
      const accepted = await post(order)
      expect(accepted.status).toBe(200)
      expect(accepted.headers.get('content-type')).toBe('application/json; charset=utf-8')
      expect(await accepted.json()).toEqual({ received: true })
      expect(await server.waitFor('order order_koa1')).toContain('order order_koa1: grant access to')
      expect(server.output()).toMatch(/200 order\.completed \(/) // the logging middleware read ctx.state
      expect(await (await post(order)).json()).toEqual({ received: true, duplicate: true })

      const paused = await signedRequest({ secret: SECRET, type: 'customer.subscription.pause' })
      expect((await post(paused)).status).toBe(200)
      expect(await server.waitFor('subscription paused')).toContain('subscription paused')

      expect((await post({ ...order, body: order.body.replace('order_koa1', 'order_koa2') })).status).toBe(401)
      expect((await post(await signedRequest({ secret: SECRET, type: 'order.completed', timestamp: Date.now() - 3_600_000 }))).status).toBe(401)
      expect((await post(await signedRequest({ secret: 'whsec_not_ours', type: 'order.completed' }))).status).toBe(401)
      const wrongMethod = await fetch(server.url)
      expect(wrongMethod.status).toBe(405)
      expect(wrongMethod.headers.get('allow')).toBe('POST')
      const huge = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { padding: 'x'.repeat(2 * 1024 * 1024) } })
      expect((await post(huge)).status).toBe(413)
      expect(server.output()).not.toContain('order_koa2')

      // The body parser mounted after the webhook still serves the rest of the app.
      const note = await fetch(`${server.base}/api/notes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"hi"}' })
      expect(await note.json()).toEqual({ saved: { text: 'hi' } })
      expect(await (await fetch(`${server.base}/health`)).json()).toEqual({ ok: true })
      expect((await fetch(`${server.base}/other`)).status).toBe(404)

      server.child.kill('SIGTERM')
      expect(await server.exited).toBe(0)
      expect(server.output()).toContain('drained, bye')
    } finally {
      server.child.kill()
    }
  })
})
