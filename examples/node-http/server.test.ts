import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'

const SECRET = 'whsec_example_node_http'
const dir = dirname(fileURLToPath(import.meta.url))

async function startServer() {
  const port = 21000 + (process.pid % 20000)
  const child = spawn(process.execPath, [join(dir, 'server.mjs')], {
    env: { ...process.env, PORT: String(port), POCKETSFLOW_WEBHOOK_SECRET: SECRET },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  for (let i = 0; i < 100 && !output.includes('listening'); i++) await new Promise((r) => setTimeout(r, 50))
  const waitFor = async (text: string) => {
    for (let i = 0; i < 100 && !output.includes(text); i++) await new Promise((r) => setTimeout(r, 50))
    return output
  }
  return { url: `http://127.0.0.1:${port}/webhooks/pocketsflow`, child, exited, waitFor, output: () => output }
}

describe('examples/node-http', () => {
  it('verifies, acknowledges, dedupes, rejects and drains on SIGTERM', async () => {
    const server = await startServer()
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
      expect((await fetch(server.url.replace('/webhooks/pocketsflow', '/other'))).status).toBe(404)

      server.child.kill('SIGTERM')
      expect(await server.exited).toBe(0)
      expect(server.output()).toContain('drained, bye')
    } finally {
      server.child.kill()
    }
  })
})
