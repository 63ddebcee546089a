import { once } from 'node:events'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import express5 from 'express'
import express4 from 'express4'
import request from 'supertest'
import { describe, expect, it, vi } from 'vitest'
import { rejectedDeliveries, signedRequest } from '@pocketsflow-webhooks/core/testing'
import { signWebhook } from '@pocketsflow-webhooks/core'
import { pocketsflowWebhook, type PocketsflowWebhookOptions } from '../src/index.js'

const SECRET = 'whsec_express_adapter_test'
const REJECTED = await rejectedDeliveries({ secret: SECRET })
const PATH = '/webhooks/pocketsflow'
type Express = typeof express5

const quiet = { debug() {}, info() {}, warn() {}, error() {} }

function post(app: unknown, req: { headers: Record<string, string>; body: string }, path = PATH) {
  return request(app as never).post(path).set(req.headers).send(req.body)
}

describe.each([
  ['Express 5', express5 as Express],
  ['Express 4', express4 as unknown as Express],
])('%s', (_name, express) => {
  function app(options: Partial<PocketsflowWebhookOptions> = {}) {
    const handled: { type: string; id: string; email?: string }[] = []
    const webhook = pocketsflowWebhook({
      secret: SECRET,
      logger: quiet,
      retry: false,
      onEvent: (event) => void handled.push({ type: event.type, id: event.id, email: (event.data as { customer?: { email?: string } }).customer?.email }),
      ...options,
    })
    const server = express()
    server.use(webhook)
    server.get('/health', (_req, res) => void res.send('ok'))
    return { server, handled, webhook }
  }

  it('acknowledges a valid delivery with 200 and hands the typed event to the handler', async () => {
    const { server, handled } = app()
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { customer: { email: 'a@example.com' } } })
    const res = await post(server, req)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ received: true })
    await vi.waitFor(() => expect(handled).toEqual([{ type: 'order.completed', id: expect.any(String), email: 'a@example.com' }]))
  })

  it('acknowledges a duplicate with 200 and does not run the handler again', async () => {
    const { server, handled } = app()
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    await post(server, req)
    const res = await post(server, req)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ received: true, duplicate: true })
    await new Promise((r) => setTimeout(r, 20))
    expect(handled).toHaveLength(1)
  })

  it.each(REJECTED.map((d) => [d.label, async () => d.request] as const))('rejects a %s with 401 and runs nothing', async (_label, make) => {
    const { server, handled } = app()
    const res = await post(server, await make())
    expect(res.status).toBe(401)
    expect(res.body).toEqual({ error: 'invalid signature' })
    await new Promise((r) => setTimeout(r, 20))
    expect(handled).toEqual([])
  })

  it('accepts timestamps in milliseconds and in seconds', async () => {
    const { server } = app()
    for (const timestampUnit of ['ms', 's'] as const) {
      const res = await post(server, await signedRequest({ secret: SECRET, type: 'order.completed', timestampUnit }))
      expect(res.status).toBe(200)
    }
  })

  it('answers 405 with Allow: POST for another method on its path, and passes other paths on', async () => {
    const { server } = app()
    const res = await request(server as never).get(PATH)
    expect(res.status).toBe(405)
    expect(res.headers['allow']).toBe('POST')
    expect((await request(server as never).get('/health')).text).toBe('ok')
    expect((await request(server as never).post('/elsewhere').send('{}')).status).toBe(404)
  })

  it('answers 413 for a body over the limit', async () => {
    const { server } = app({ bodyLimit: 1024 })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { padding: 'x'.repeat(4096) } })
    expect((await post(server, req)).status).toBe(413)
  })

  it('answers 400 for signed but malformed JSON', async () => {
    const { server } = app()
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', body: '{"event":"order.completed",' })
    expect((await post(server, req)).status).toBe(400)
  })

  it('accepts an unknown event type and gives it to onEvent', async () => {
    const { server, handled } = app()
    expect((await post(server, await signedRequest({ secret: SECRET, type: 'payout.sent' }))).status).toBe(200)
    await vi.waitFor(() => expect(handled.map((h) => h.type)).toEqual(['payout.sent']))
  })

  it('accepts deliveries signed with either secret during a rotation', async () => {
    const { server } = app({ secret: ['whsec_new_secret', SECRET] })
    expect((await post(server, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    expect((await post(server, await signedRequest({ secret: 'whsec_new_secret', type: 'order.completed' }))).status).toBe(200)
  })

  it('puts the 200 on the wire before a slow handler finishes', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const steps: string[] = []
    const { server } = app({
      on: {
        'order.completed': async () => {
          steps.push('handler started')
          await gate // stands for 5 s of work
          steps.push('handler finished')
        },
      },
    })
    const res = await post(server, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    steps.push(`response ${res.status}`)
    expect(steps).not.toContain('handler finished')
    release()
    await vi.waitFor(() => expect(steps).toContain('handler finished'))
    expect(steps.indexOf('response 200')).toBeLessThan(steps.indexOf('handler finished'))
  })

  it('works mounted after express.json() when its verify hook kept req.rawBody', async () => {
    const server = express()
    server.use(express.json({ verify: (req, _res, buf) => void ((req as { rawBody?: Buffer }).rawBody = buf) }))
    server.use(pocketsflowWebhook({ secret: SECRET, logger: quiet }))
    expect((await post(server, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    const tampered = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(server, { ...tampered, body: tampered.body.replace('}', ' }') })).status).toBe(401)
  })

  it.each([
    ['express.raw({ type: "*/*" })', { type: '*/*' }],
    ['express.raw({ type: "application/json" })', { type: 'application/json' }],
    ['express.raw() (octet-stream only: the stream is left for the webhook)', undefined],
  ])('works mounted after %s, verifying the exact bytes it kept', async (_name, rawOptions) => {
    const handled: string[] = []
    const server = express()
    server.use(express.raw(rawOptions))
    server.use(pocketsflowWebhook({ secret: SECRET, logger: quiet, retry: false, onEvent: (event) => void handled.push(event.id) }))
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(server, delivery)).status).toBe(200)
    expect((await post(server, delivery)).status).toBe(200)
    await vi.waitFor(() => expect(handled).toHaveLength(1))
    expect((await post(server, { ...delivery, body: delivery.body.replace('}', ' }') })).status).toBe(401)
    // Bytes that no decoded text gives back: a leading BOM, and a byte that is not UTF-8 inside a string.
    const bodies = [
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ type: 'order.completed', data: { note: 'bom' } }))]),
      Buffer.concat([Buffer.from('{"type":"order.completed","data":{"note":"'), Buffer.from([0xff]), Buffer.from('"}}')]),
    ]
    // Over real HTTP: supertest would serialize a Buffer sent as JSON.
    const listening = server.listen(0, '127.0.0.1')
    await once(listening, 'listening')
    try {
      const url = `http://127.0.0.1:${(listening.address() as AddressInfo).port}${PATH}`
      for (const body of bodies) {
        const headers = await signWebhook({ provider: 'pocketsflow', secret: SECRET, body })
        expect((await fetch(url, { method: 'POST', headers, body })).status).toBe(200)
      }
    } finally {
      listening.close()
    }
    await vi.waitFor(() => expect(new Set(handled).size).toBe(3))
  })

  it('answers 413 from the webhook when express.raw() kept a body over bodyLimit', async () => {
    const server = express()
    server.use(express.raw({ type: '*/*', limit: '1mb' }))
    server.use(pocketsflowWebhook({ secret: SECRET, logger: quiet, bodyLimit: 100 }))
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { note: 'x'.repeat(200) } })
    expect((await post(server, delivery)).status).toBe(413)
  })

  it('answers 500 with a configuration error after express.text(), whose decoded string is not the signed bytes', async () => {
    const errors: { obj: object; msg?: string }[] = []
    const server = express()
    server.use(express.text({ type: '*/*' }))
    server.use(pocketsflowWebhook({ secret: SECRET, logger: { ...quiet, error: (obj, msg) => void errors.push({ obj, msg }) } }))
    expect((await post(server, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(500)
    expect(errors[0]?.msg).toMatch(/express\.raw\(\)/)
  })

  it('answers 500 with a configuration error that says how to mount it, after a json parser that kept nothing', async () => {
    const errors: { obj: object; msg?: string }[] = []
    const server = express()
    server.use(express.json())
    server.use(pocketsflowWebhook({ secret: SECRET, logger: { ...quiet, error: (obj, msg) => void errors.push({ obj, msg }) } }))
    const res = await post(server, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    expect(res.status).toBe(500)
    expect(errors[0]?.msg).toMatch(/before express\.json\(\)/)
  })

  it('is unaffected by a global express.json() mounted after it, which keeps working for other routes', async () => {
    const server = express()
    server.use(pocketsflowWebhook({ secret: SECRET, logger: quiet }))
    server.use(express.json())
    server.post('/api/echo', (req, res) => void res.json(req.body))
    expect((await post(server, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    const echo = await request(server as never).post('/api/echo').send({ a: 1 })
    expect(echo.body).toEqual({ a: 1 })
  })

  it('honours a custom path, relative to where it is mounted', async () => {
    const server = express()
    const router = express.Router()
    router.use(pocketsflowWebhook({ secret: SECRET, logger: quiet, path: '/pf' }))
    server.use('/hooks', router)
    expect((await post(server, await signedRequest({ secret: SECRET, type: 'order.completed' }), '/hooks/pf')).status).toBe(200)
  })

  it('close() answers 503 from then on and waits for running handlers', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const { server, webhook } = app({ on: { 'order.completed': () => gate } })
    expect((await post(server, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    let closed = false
    const closing = webhook.close().then(() => (closed = true))
    expect((await post(server, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(503)
    expect(closed).toBe(false)
    release()
    await closing
    expect(closed).toBe(true)
  })
})

describe('from CommonJS', () => {
  it('require() gives the same middleware', async () => {
    const require = createRequire(import.meta.url)
    const cjs = require('../dist/index.cjs') as typeof import('../src/index.js')
    const server = express5()
    server.use(cjs.pocketsflowWebhook({ secret: SECRET, logger: quiet }))
    expect((await post(server, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
  })
})
