// The App Router handler called the way users unit-test their route handlers: directly, with a
// `new Request(...)`, outside Next's request scope (where Next's after() throws).
import { describe, expect, it, vi } from 'vitest'
import { rejectedDeliveries, signedRequest } from '@pocketsflow-webhooks/core/testing'
import { pocketsflowWebhook, type PocketsflowWebhookOptions } from '../src/index.js'
import { pocketsflowWebhook as edgeWebhook } from '../src/edge.js'

const SECRET = 'whsec_next_adapter_test'
const URL = 'https://shop.example/webhooks/pocketsflow'
const quiet = { debug() {}, info() {}, warn() {}, error() {} }
const REJECTED = await rejectedDeliveries({ secret: SECRET })

type Delivery = { method?: string; headers: Record<string, string>; body?: string | ReadableStream<Uint8Array> | null }

function toRequest(delivery: Delivery): Request {
  const init: RequestInit & { duplex?: 'half' } = { method: delivery.method ?? 'POST', headers: delivery.headers }
  if (delivery.body !== undefined && delivery.body !== null) {
    init.body = delivery.body
    if (typeof delivery.body !== 'string') init.duplex = 'half'
  }
  return new Request(URL, init)
}

describe.each([
  ['Node entry (node:crypto)', pocketsflowWebhook],
  ['Edge entry (Web Crypto)', edgeWebhook],
])('%s', (_name, factory) => {
  function route(options: Partial<PocketsflowWebhookOptions> = {}) {
    const handled: { type: string; id: string; email?: string }[] = []
    const POST = factory({
      secret: SECRET,
      logger: quiet,
      retry: false,
      onEvent: (event) => void handled.push({ type: event.type, id: event.id, email: (event.data as { customer?: { email?: string } }).customer?.email }),
      ...options,
    } as PocketsflowWebhookOptions)
    const send = async (delivery: Delivery) => {
      const res = await POST(toRequest(delivery))
      return { status: res.status, headers: res.headers, body: (await res.json()) as unknown }
    }
    return { POST, send, handled }
  }

  it('acknowledges a valid delivery with 200, and its handlers have run by then outside a request scope', async () => {
    const { POST, send, handled } = route()
    // Next 16 is installed: after() exists, but throws here (no request scope), so the handlers run
    // before the 200 instead of being lost.
    expect(POST.schedule).toBe('after')
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { customer: { email: 'a@example.com' } } })
    const res = await send(req)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ received: true })
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(handled).toEqual([{ type: 'order.completed', id: expect.any(String), email: 'a@example.com' }])
  })

  it('acknowledges a duplicate with 200 and does not run the handler again', async () => {
    const { send, handled } = route()
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    await send(req)
    const res = await send(req)
    expect(res).toMatchObject({ status: 200, body: { received: true, duplicate: true } })
    expect(handled).toHaveLength(1)
  })

  it.each(REJECTED.map((d) => [d.label, async () => d.request] as const))('rejects a %s with 401 and runs nothing', async (_label, make) => {
    const { send, handled } = route()
    const res = await send(await make())
    expect(res).toMatchObject({ status: 401, body: { error: 'invalid signature' } })
    expect(handled).toEqual([])
  })

  it('accepts timestamps in milliseconds and in seconds', async () => {
    const { send } = route()
    for (const timestampUnit of ['ms', 's'] as const) {
      expect((await send(await signedRequest({ secret: SECRET, type: 'order.completed', timestampUnit }))).status).toBe(200)
    }
  })

  it.each(['GET', 'PUT', 'PATCH', 'DELETE'])('answers %s with 405 and Allow: POST', async (method) => {
    const { send } = route()
    const res = await send({ method, headers: {}, body: method === 'GET' ? undefined : '{}' })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('POST')
  })

  it('answers 413 for a body over the limit, from Content-Length without reading it', async () => {
    const { send } = route({ bodyLimit: 1024 })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { padding: 'x'.repeat(4096) } })
    const res = await send({ ...req, headers: { ...req.headers, 'content-length': String(req.body.length) } })
    expect(res.status).toBe(413)
  })

  it('answers 413 for a streamed body over the limit (no Content-Length), and stops reading it', async () => {
    const { send } = route({ bodyLimit: 1024 })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    let pulled = 0
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++
        controller.enqueue(new Uint8Array(512).fill(32))
      },
    })
    expect((await send({ ...req, body: endless })).status).toBe(413)
    expect(pulled).toBeLessThan(10)
  })

  it('reads a streamed body of several chunks exactly', async () => {
    const { send, handled } = route()
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { customer: { email: 'chunks@example.com' } } })
    const bytes = new TextEncoder().encode(req.body)
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 7) controller.enqueue(bytes.slice(i, i + 7))
        controller.close()
      },
    })
    expect((await send({ ...req, body: chunked })).status).toBe(200)
    expect(handled[0]?.email).toBe('chunks@example.com')
  })

  it('answers 400 when the body stream fails mid-way', async () => {
    const { send } = route()
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array([123]))
        controller.error(new Error('client went away'))
      },
    })
    expect((await send({ ...req, body: broken })).status).toBe(400)
  })

  it('answers 400 for signed but malformed JSON', async () => {
    const { send } = route()
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', body: '{"event":"order.completed",' })
    expect((await send(req)).status).toBe(400)
  })

  it('answers 401 for a POST without a body or signature', async () => {
    const { send } = route()
    expect((await send({ headers: {} })).status).toBe(401)
  })

  it('accepts an unknown event type and gives it to onEvent', async () => {
    const { send, handled } = route()
    expect((await send(await signedRequest({ secret: SECRET, type: 'payout.sent' }))).status).toBe(200)
    expect(handled.map((h) => h.type)).toEqual(['payout.sent'])
  })

  it('accepts deliveries signed with either secret during a rotation', async () => {
    const { send } = route({ secret: ['whsec_new_secret', SECRET] })
    expect((await send(await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    expect((await send(await signedRequest({ secret: 'whsec_new_secret', type: 'order.completed' }))).status).toBe(200)
  })

  it('runs the typed handler with typed data', async () => {
    const emails: string[] = []
    const { send } = route({ on: { 'order.completed': (event) => void emails.push(event.data.customer.email) } })
    await send(await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { customer: { email: 'typed@example.com' } } }))
    expect(emails).toEqual(['typed@example.com'])
  })

  it('answers 500 and names the fix when the body was read before the handler', async () => {
    const errors: (string | undefined)[] = []
    const { POST } = route({ logger: { ...quiet, error: (_obj, msg) => void errors.push(msg) } })
    const request = toRequest(await signedRequest({ secret: SECRET, type: 'order.completed' }))
    await request.json()
    expect((await POST(request)).status).toBe(500)
    expect(errors[0]).toMatch(/pass the untouched Request/)
  })

  it('close() answers 503 from then on', async () => {
    const { POST, send } = route()
    await POST.close()
    expect((await send(await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(503)
    expect(POST.receiver.path).toBe('/webhooks/pocketsflow')
  })

  it('a handler that fails reaches onError and still answers 200 (the event was received)', async () => {
    const onError = vi.fn()
    const { send } = route({ on: { 'order.completed': () => Promise.reject(new Error('db down')) }, onError })
    expect((await send(await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    expect(onError).toHaveBeenCalledOnce()
  })

  it('throws at construction for a missing secret, naming the variable', () => {
    expect(() => factory({ secret: undefined, logger: quiet })).toThrow(/POCKETSFLOW_WEBHOOK_SECRET/)
    expect(() => factory({ secret: '  ', logger: quiet })).toThrow(/empty or whitespace/)
  })

  it('does not fail `next build` for a secret only set at runtime, and validates it when the route is used', async () => {
    const warnings: (string | undefined)[] = []
    const previous = process.env['NEXT_PHASE']
    process.env['NEXT_PHASE'] = 'phase-production-build'
    let POST: ReturnType<typeof factory>
    try {
      POST = factory({ secret: undefined, logger: { ...quiet, warn: (_obj, msg) => void warnings.push(msg) } })
    } finally {
      if (previous === undefined) delete process.env['NEXT_PHASE']
      else process.env['NEXT_PHASE'] = previous
    }
    expect(warnings[0]).toMatch(/next build/)
    const res = await POST(toRequest(await signedRequest({ secret: SECRET, type: 'order.completed' })))
    expect(res.status).toBe(500)
    expect(() => POST.receiver).toThrow(/secret/)
  })
})
