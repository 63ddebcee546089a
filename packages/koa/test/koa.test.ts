// Every test goes through real HTTP: Koa on an ephemeral port, fetch (or node:http where the test
// needs to control the upload) as the sender.
import { once } from 'node:events'
import { request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'
import Koa3 from 'koa'
import Koa2 from 'koa2'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { rejectedDeliveries, signedRequest } from '@pocketsflow-webhooks/core/testing'
import { isEventType, pocketsflowWebhook, type PocketsflowStateEvent, type PocketsflowWebhookOptions } from '../src/index.js'

const SECRET = 'whsec_koa_adapter_test'
const REJECTED = await rejectedDeliveries({ secret: SECRET })
const PATH = '/webhooks/pocketsflow'
type Koa = typeof Koa3
type Delivery = { headers: Record<string, string>; body: string }

const quiet = { debug() {}, info() {}, warn() {}, error() {} }
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// The body parsers are loaded untyped: their type declarations augment \`http.IncomingMessage\` and
// Koa's \`Request\` for the whole type-checked workspace, with conflicting types.
type BodyParserFactory = () => (ctx: never, next: () => Promise<unknown>) => Promise<unknown>
const requireHere = createRequire(import.meta.url)
const koaBodyParser = (requireHere('@koa/bodyparser') as { bodyParser: BodyParserFactory }).bodyParser
const legacyBodyParser = requireHere('koa-bodyparser') as BodyParserFactory

const servers: Server[] = []
afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    server.close()
  }
})

/** Listens on an ephemeral port; returns the base URL. */
async function serve(app: { listen(port: number, host: string): Server }): Promise<string> {
  const server = app.listen(0, '127.0.0.1')
  servers.push(server)
  await once(server, 'listening')
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function post(base: string, req: Delivery, path = PATH) {
  return fetch(base + path, { method: 'POST', headers: req.headers, body: req.body })
}

/** A POST through node:http, for uploads fetch can't shape (chunked, no Content-Length). */
function postChunked(base: string, headers: Record<string, string>, chunks: string[]) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = httpRequest(base + PATH, { method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    // The server may close the connection mid-upload once it has answered 413: that is the point.
    req.on('error', (error) => setTimeout(() => reject(error), 200))
    void (async () => {
      for (const chunk of chunks) {
        if (req.destroyed) return
        req.write(chunk)
        await sleep(1)
      }
      req.end()
    })()
  })
}

const emailOf = (event: PocketsflowStateEvent) => (event.data as { customer?: { email?: string } }).customer?.email

describe.each([
  ['Koa 3', Koa3],
  ['Koa 2', Koa2 as unknown as Koa],
])('%s', (_name, Koa) => {
  function app(options: Partial<PocketsflowWebhookOptions> = {}) {
    const handled: { type: string; id: string; email?: string }[] = []
    const webhook = pocketsflowWebhook({
      secret: SECRET,
      logger: quiet,
      retry: false,
      onEvent: (event) => void handled.push({ type: event.type, id: event.id, email: emailOf(event) }),
      ...options,
    })
    const server = new Koa()
    server.silent = true
    server.use(webhook)
    server.use(async (ctx, next) => {
      if (ctx.path === '/health') ctx.body = 'ok'
      else await next()
    })
    return { server, handled, webhook }
  }

  it('acknowledges a valid delivery with 200 application/json and hands the typed event to the handler', async () => {
    const seen: string[] = []
    const { server, handled } = app({ on: { 'order.completed': (event) => void seen.push(event.data.customer.email) } })
    const base = await serve(server)
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { customer: { email: 'a@example.com' } } })
    const res = await post(base, req)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(res.headers.get('connection')).not.toBe('close')
    expect(await res.json()).toEqual({ received: true })
    await vi.waitFor(() => expect(handled).toEqual([{ type: 'order.completed', id: expect.any(String), email: 'a@example.com' }]))
    expect(seen).toEqual(['a@example.com'])
  })

  it('acknowledges a duplicate with 200 and does not run the handler again', async () => {
    const { server, handled } = app()
    const base = await serve(server)
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(base, req)).status).toBe(200)
    const res = await post(base, req)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ received: true, duplicate: true })
    await sleep(20)
    expect(handled).toHaveLength(1)
  })

  it.each(REJECTED.map((d) => [d.label, async () => d.request] as const))('rejects a %s with 401 and runs nothing', async (_label, make) => {
    const { server, handled } = app()
    const base = await serve(server)
    const res = await post(base, await make())
    expect(res.status).toBe(401)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(await res.json()).toEqual({ error: 'invalid signature' })
    await sleep(20)
    expect(handled).toEqual([])
  })

  it('closes the connection when it rejected a delivery from its headers, without reading the body', async () => {
    const { server } = app()
    const base = await serve(server)
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', timestamp: Date.now() - 3_600_000 })
    const res = await postChunked(base, req.headers, [req.body.slice(0, 10)]) // the rest never comes
    expect(res.status).toBe(401)
    expect(res.headers['connection']).toBe('close')
  })

  it('accepts timestamps in milliseconds and in seconds', async () => {
    const { server, handled } = app()
    const base = await serve(server)
    for (const timestampUnit of ['ms', 's'] as const) {
      expect((await post(base, await signedRequest({ secret: SECRET, type: 'order.completed', timestampUnit }))).status).toBe(200)
    }
    await vi.waitFor(() => expect(handled).toHaveLength(2))
  })

  it('answers 405 with Allow: POST for another method on its path, and passes other paths on', async () => {
    const { server } = app()
    const base = await serve(server)
    for (const method of ['GET', 'PUT', 'HEAD']) {
      const res = await fetch(base + PATH, { method })
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toBe('POST')
    }
    expect(await (await fetch(`${base}/health`)).text()).toBe('ok')
    expect((await fetch(`${base}/elsewhere`, { method: 'POST', body: '{}' })).status).toBe(404)
    expect((await fetch(`${base}/webhooks/pocketsflow-other`, { method: 'POST', body: '{}' })).status).toBe(404)
  })

  it('answers 413 for a body over the limit, announced or streamed, and closes the connection', async () => {
    const { server, handled } = app({ bodyLimit: 1024 })
    const base = await serve(server)
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { padding: 'x'.repeat(4096) } })
    const announced = await post(base, req)
    expect(announced.status).toBe(413)
    expect(announced.headers.get('connection')).toBe('close')
    expect(await announced.json()).toEqual({ error: 'payload too large' })
    const streamed = await postChunked(base, req.headers, req.body.match(/.{1,512}/gs) ?? [])
    expect(streamed.status).toBe(413)
    expect(streamed.headers['connection']).toBe('close')
    expect(handled).toEqual([])
  })

  it('reads a chunked body within the limit', async () => {
    const { server, handled } = app()
    const base = await serve(server)
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const res = await postChunked(base, req.headers, req.body.match(/.{1,100}/gs) ?? [])
    expect(res.status).toBe(200)
    await vi.waitFor(() => expect(handled).toHaveLength(1))
  })

  it('answers 400 for signed but malformed JSON', async () => {
    const { server, handled } = app()
    const base = await serve(server)
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', body: '{"event":"order.completed",' })
    const res = await post(base, req)
    expect(res.status).toBe(400)
    expect(await res.json()).toEqual({ error: 'invalid payload' })
    expect(handled).toEqual([])
  })

  it('accepts an unknown event type and gives it to onEvent', async () => {
    const { server, handled } = app()
    const base = await serve(server)
    expect((await post(base, await signedRequest({ secret: SECRET, type: 'payout.sent' }))).status).toBe(200)
    await vi.waitFor(() => expect(handled.map((h) => h.type)).toEqual(['payout.sent']))
  })

  it('accepts deliveries signed with either secret during a rotation', async () => {
    const { server } = app({ secret: ['whsec_new_secret', SECRET] })
    const base = await serve(server)
    expect((await post(base, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    expect((await post(base, await signedRequest({ secret: 'whsec_new_secret', type: 'order.completed' }))).status).toBe(200)
    expect((await post(base, await signedRequest({ secret: 'whsec_retired', type: 'order.completed' }))).status).toBe(401)
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
    const base = await serve(server)
    const res = await post(base, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    steps.push(`response ${res.status}`)
    expect(steps).not.toContain('handler finished')
    release()
    await vi.waitFor(() => expect(steps).toContain('handler finished'))
    expect(steps.indexOf('response 200')).toBeLessThan(steps.indexOf('handler finished'))
  })

  it('starts the handlers only once the whole chain has settled and Koa has sent the response', async () => {
    const steps: string[] = []
    const webhook = pocketsflowWebhook({ secret: SECRET, logger: quiet, on: { 'order.completed': () => void steps.push('handler') } })
    const server = new Koa()
    server.use(async (ctx, next) => {
      ctx.res.once('finish', () => steps.push('response sent'))
      await next()
      steps.push('webhook middleware returned')
      await sleep(50) // e.g. an access log writing somewhere slow
      steps.push('outer middleware returned')
    })
    server.use(webhook)
    const base = await serve(server)
    expect((await post(base, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(() => expect(steps).toContain('handler'))
    expect(steps).toEqual(['webhook middleware returned', 'outer middleware returned', 'response sent', 'handler'])
  })

  it('puts the event of a new delivery on ctx.state, seen by middleware around it; not for duplicates or rejections', async () => {
    const seen: (string | undefined)[] = []
    const server = new Koa()
    server.use(async (ctx, next) => {
      await next()
      const event = ctx.state.pocketsflowEvent
      seen.push(event && isEventType(event, 'order.completed') ? event.data.customer.email : event?.type)
    })
    server.use(pocketsflowWebhook({ secret: SECRET, logger: quiet }))
    const base = await serve(server)
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { customer: { email: 'state@example.com' } } })
    await post(base, req)
    await post(base, req) // duplicate
    await post(base, { ...req, body: req.body.replace('state@', 'other@') }) // tampered
    expect(seen).toEqual(['state@example.com', undefined, undefined])
  })

  describe('callNext: true', () => {
    it('lets middleware after it see ctx.state, without letting it change the answer', async () => {
      const seen: string[] = []
      const server = new Koa()
      server.use(pocketsflowWebhook({ secret: SECRET, logger: quiet, callNext: true }))
      server.use(async (ctx) => {
        seen.push(ctx.state.pocketsflowEvent?.type ?? 'no event')
        ctx.status = 404 // e.g. a router that matched nothing
        ctx.set('x-seen-by', 'downstream')
      })
      const base = await serve(server)
      const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
      const res = await post(base, req)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
      expect(res.headers.get('x-seen-by')).toBe('downstream')
      expect(await res.json()).toEqual({ received: true })
      // Only events accepted as new go on: no duplicates, no rejections.
      expect((await post(base, req)).status).toBe(200)
      expect((await post(base, { ...req, body: `${req.body} ` })).status).toBe(401)
      expect(seen).toEqual(['order.completed'])
    })

    it('keeps the 200 when downstream middleware throws, reports the error on app "error", and still runs the handlers', async () => {
      const handled: string[] = []
      const errors: unknown[] = []
      const server = new Koa()
      server.on('error', (error) => errors.push(error))
      server.use(pocketsflowWebhook({ secret: SECRET, logger: quiet, callNext: true, onEvent: (event) => void handled.push(event.type) }))
      server.use(async () => {
        throw new Error('downstream broke')
      })
      const base = await serve(server)
      const res = await post(base, await signedRequest({ secret: SECRET, type: 'order.completed' }))
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ received: true })
      expect(errors).toEqual([expect.objectContaining({ message: 'downstream broke' })])
      await vi.waitFor(() => expect(handled).toEqual(['order.completed']))
    })

    it.each([
      ['@koa/bodyparser', () => koaBodyParser()],
      ['koa-bodyparser', () => legacyBodyParser()],
    ])('makes %s mounted after it skip the already-read request', async (_label, parser) => {
      const errors: unknown[] = []
      let parsed: unknown = 'not reached'
      const server = new Koa()
      server.on('error', (error) => errors.push(error))
      server.use(pocketsflowWebhook({ secret: SECRET, logger: quiet, callNext: true }))
      server.use(parser())
      server.use(async (ctx) => void (parsed = (ctx.request as { body?: unknown }).body))
      const base = await serve(server)
      expect((await post(base, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
      expect(parsed).toBeUndefined()
      expect(errors).toEqual([])
    })
  })

  describe.each([
    ['@koa/bodyparser', () => koaBodyParser()],
    ['koa-bodyparser', () => legacyBodyParser()],
  ])('with %s', (_label, parser) => {
    it('mounted before it: verifies the raw body the parser kept; tampering still fails', async () => {
      const handled: string[] = []
      const server = new Koa()
      server.use(parser())
      server.use(pocketsflowWebhook({ secret: SECRET, logger: quiet, onEvent: (event) => void handled.push(event.type) }))
      const base = await serve(server)
      const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { customer: { email: 'zoë@exämple.com' } } })
      expect((await post(base, req)).status).toBe(200)
      expect((await post(base, { ...req, body: req.body.replace('}', ' }') })).status).toBe(401)
      expect((await post(base, { ...req, body: req.body.replace('zoë', 'zoe') })).status).toBe(401)
      // A content type the parser leaves alone: the stream is untouched and read here.
      const binary = await signedRequest({ secret: SECRET, type: 'order.completed' })
      expect((await post(base, { ...binary, headers: { ...binary.headers, 'Content-Type': 'application/octet-stream' } })).status).toBe(200)
      await vi.waitFor(() => expect(handled).toHaveLength(2))
    })

    it('mounted before it: malformed JSON is the parser\'s 400, and nothing runs', async () => {
      const handled: string[] = []
      const server = new Koa()
      server.silent = true
      server.use(parser())
      server.use(pocketsflowWebhook({ secret: SECRET, logger: quiet, onEvent: (event) => void handled.push(event.type) }))
      const base = await serve(server)
      const req = await signedRequest({ secret: SECRET, type: 'order.completed', body: '{"event":"order.completed",' })
      expect((await post(base, req)).status).toBe(400)
      await sleep(20)
      expect(handled).toEqual([])
    })

    it('mounted after it: never sees the webhook request, and still parses other routes', async () => {
      const server = new Koa()
      server.use(pocketsflowWebhook({ secret: SECRET, logger: quiet }))
      server.use(parser())
      server.use(async (ctx) => {
        if (ctx.path === '/api/echo') ctx.body = { echoed: (ctx.request as { body?: unknown }).body }
      })
      const base = await serve(server)
      expect((await post(base, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
      const echo = await fetch(`${base}/api/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })
      expect(await echo.json()).toEqual({ echoed: { a: 1 } })
    })
  })

  it('answers 500 with a configuration error that says how to mount it, after a parser that kept nothing', async () => {
    const errors: { obj: object; msg?: string }[] = []
    const server = new Koa()
    server.use(async (ctx, next) => {
      // A body parser that keeps only the parsed object.
      let text = ''
      for await (const chunk of ctx.req) text += chunk
      ;(ctx.request as { body?: unknown }).body = JSON.parse(text)
      await next()
    })
    server.use(pocketsflowWebhook({ secret: SECRET, logger: { ...quiet, error: (obj, msg) => void errors.push({ obj, msg }) } }))
    const base = await serve(server)
    const res = await post(base, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    expect(res.status).toBe(500)
    expect(await res.json()).toEqual({ error: 'webhook receiver misconfigured' })
    expect(errors[0]?.msg).toMatch(/before bodyParser\(\)/)
  })

  it('honours a custom path, with or without a query string or trailing slash', async () => {
    const { server } = app({ path: '/hooks/pf' })
    const base = await serve(server)
    for (const path of ['/hooks/pf', '/hooks/pf/', '/hooks/pf?source=pocketsflow']) {
      expect((await post(base, await signedRequest({ secret: SECRET, type: 'order.completed' }), path)).status).toBe(200)
    }
    expect((await post(base, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(404)
  })

  it('close() answers 503 from then on and waits for running handlers', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const { server, webhook } = app({ on: { 'order.completed': () => gate } })
    const base = await serve(server)
    expect((await post(base, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    let closed = false
    const closing = webhook.close().then(() => (closed = true))
    const refused = await post(base, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    expect(refused.status).toBe(503)
    expect(refused.headers.get('retry-after')).toBe('5')
    await sleep(20)
    expect(closed).toBe(false)
    release()
    await closing
    expect(closed).toBe(true)
    expect(webhook.receiver.path).toBe(PATH)
  })
})

describe('from CommonJS', () => {
  it('require() gives the same middleware, which works in a required Koa', async () => {
    const cjs = requireHere('../dist/index.cjs') as typeof import('../src/index.js')
    const KoaCjs = requireHere('koa') as Koa
    const server = new KoaCjs()
    server.use(cjs.pocketsflowWebhook({ secret: SECRET, logger: quiet }))
    const base = await serve(server)
    const res = await post(base, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
  })
})
