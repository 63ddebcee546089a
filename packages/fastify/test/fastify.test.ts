import { createRequire } from 'node:module'
import Fastify, { type FastifyInstance } from 'fastify'
import { describe, expect, expectTypeOf, it, vi } from 'vitest'
import { rejectedDeliveries, signedRequest } from '@pocketsflow-webhooks/core/testing'
import {
  isEventType,
  pocketsflowWebhook,
  type PocketsflowRequestEvent,
  type PocketsflowWebhookOptions,
  type WebhookReceiver,
} from '../src/index.js'

const SECRET = 'whsec_fastify_adapter_test'
const REJECTED = await rejectedDeliveries({ secret: SECRET })
const PATH = '/webhooks/pocketsflow'

const quiet = { debug() {}, info() {}, warn() {}, error() {} }

type Delivery = { headers: Record<string, string | undefined>; body: string }

function post(app: FastifyInstance, req: Delivery, url = PATH) {
  return app.inject({ method: 'POST', url, headers: req.headers, payload: req.body })
}

function gate() {
  let release: () => void = () => {}
  const promise = new Promise<void>((resolve) => (release = resolve))
  return { promise, release }
}

async function build(options: Partial<PocketsflowWebhookOptions> = {}) {
  const handled: { type: string; id: string; email?: string | undefined }[] = []
  const app = Fastify()
  await app.register(pocketsflowWebhook, {
    secret: SECRET,
    logger: quiet,
    retry: false,
    onEvent: (event) => void handled.push({ type: event.type, id: event.id, email: (event.data as { customer?: { email?: string } }).customer?.email }),
    ...options,
  })
  // The app's own JSON route, next to the webhook.
  app.post('/api/echo', async (request) => ({ echo: request.body }))
  return { app, handled }
}

describe('pocketsflowWebhook (Fastify 5, app.inject)', () => {
  it('acknowledges a valid delivery with 200 and hands the typed event to the handler', async () => {
    const emails: string[] = []
    const { app } = await build({ on: { 'order.completed': (event) => void emails.push(event.data.customer.email) } })
    const res = await post(app, await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { customer: { email: 'a@example.com' } } }))
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(res.json()).toEqual({ received: true })
    await vi.waitFor(() => expect(emails).toEqual(['a@example.com']))
  })

  it('acknowledges a duplicate with 200 and does not run the handler again', async () => {
    const { app, handled } = await build()
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(app, req)).statusCode).toBe(200)
    const res = await post(app, req)
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ received: true, duplicate: true })
    await new Promise((r) => setTimeout(r, 20))
    expect(handled).toHaveLength(1)
  })

  it.each(REJECTED.map((d) => [d.label, async () => d.request] as const))('rejects a %s with 401 and runs nothing', async (_label, make) => {
    const { app, handled } = await build()
    const res = await post(app, await make())
    expect(res.statusCode).toBe(401)
    expect(res.json()).toEqual({ error: 'invalid signature' })
    await new Promise((r) => setTimeout(r, 20))
    expect(handled).toEqual([])
  })

  it('rejects from the headers alone, before Fastify reads the body', async () => {
    const { app } = await build()
    const parsed: string[] = []
    // preParsing runs when Fastify is about to read the body; an early answer never gets there.
    app.addHook('preParsing', async (request) => void parsed.push(request.url))
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', timestamp: Date.now() - 10 * 60_000 })
    const stale = await post(app, req)
    expect(stale.statusCode).toBe(401)
    expect(stale.headers['connection']).toBe('close')
    expect(parsed).toEqual([])
    expect((await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))).statusCode).toBe(200)
    expect(parsed).toEqual([PATH])
  })

  it('accepts timestamps in milliseconds and in seconds', async () => {
    const { app } = await build()
    for (const timestampUnit of ['ms', 's'] as const) {
      const res = await post(app, await signedRequest({ secret: SECRET, type: 'order.completed', timestampUnit }))
      expect(res.statusCode).toBe(200)
    }
  })

  it('answers 405 with Allow: POST for every other method on its path, and leaves other paths to the app', async () => {
    const { app } = await build()
    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const) {
      const res = await app.inject({ method, url: PATH })
      expect(res.statusCode, method).toBe(405)
      expect(res.headers['allow']).toBe('POST')
      expect(res.json()).toEqual({ error: 'method not allowed' })
    }
    const head = await app.inject({ method: 'HEAD', url: PATH })
    expect(head.statusCode).toBe(405)
    expect(head.headers['allow']).toBe('POST')
    expect(head.body).toBe('')
    expect((await app.inject({ method: 'POST', url: '/elsewhere', payload: '{}' })).statusCode).toBe(404)
  })

  it('answers 413 with the core body for a body over the limit', async () => {
    const { app, handled } = await build({ bodyLimit: 1024 })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { padding: 'x'.repeat(4096) } })
    const res = await post(app, req)
    expect(res.statusCode).toBe(413)
    expect(res.json()).toEqual({ error: 'payload too large' })
    expect(res.headers['connection']).toBe('close')
    await new Promise((r) => setTimeout(r, 20))
    expect(handled).toEqual([])
  })

  it('uses its own bodyLimit, not the app-wide one', async () => {
    const app = Fastify({ bodyLimit: 100 })
    await app.register(pocketsflowWebhook, { secret: SECRET, logger: quiet })
    expect((await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))).statusCode).toBe(200)
  })

  it('answers 400 for signed but malformed JSON', async () => {
    const { app } = await build()
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', body: '{"event":"order.completed",' })
    const res = await post(app, req)
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ error: 'invalid payload' })
  })

  it('accepts an unknown event type and gives it to onEvent', async () => {
    const { app, handled } = await build()
    expect((await post(app, await signedRequest({ secret: SECRET, type: 'payout.sent' }))).statusCode).toBe(200)
    await vi.waitFor(() => expect(handled.map((h) => h.type)).toEqual(['payout.sent']))
  })

  it('accepts deliveries signed with either secret during a rotation', async () => {
    const { app } = await build({ secret: ['whsec_new_secret', SECRET] })
    expect((await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))).statusCode).toBe(200)
    expect((await post(app, await signedRequest({ secret: 'whsec_new_secret', type: 'order.completed' }))).statusCode).toBe(200)
  })

  it('reads the raw bytes whatever the Content-Type, and lets the core judge an empty body', async () => {
    const { app } = await build()
    for (const contentType of [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'application/json; charset=utf-8']) {
      const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
      const res = await post(app, { ...req, headers: { ...req.headers, 'Content-Type': contentType } })
      expect(res.statusCode, String(contentType)).toBe(200)
    }
    const empty = await signedRequest({ secret: SECRET, type: 'order.completed', body: '' })
    expect((await post(app, { ...empty, headers: { ...empty.headers, 'Content-Type': undefined } })).statusCode).toBe(400)
  })

  it('answers a malformed Content-Type with the core 400, not Fastify 415', async () => {
    const rejected: { reason: string; status: number }[] = []
    const { app } = await build({ hooks: { rejected: (info) => void rejected.push(info) } })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const res = await post(app, { ...req, headers: { ...req.headers, 'Content-Type': 'not a media type' } })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ error: 'invalid payload' })
    expect(rejected).toEqual([{ reason: 'body_unreadable', status: 400, provider: 'pocketsflow' }])
  })

  it('answers a body that does not match its Content-Length with the core 400', async () => {
    const rejected: string[] = []
    const { app } = await build({ hooks: { rejected: (info) => void rejected.push(info.reason) } })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const res = await post(app, { ...req, headers: { ...req.headers, 'Content-Length': String(req.body.length - 10) } })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ error: 'invalid payload' })
    expect(rejected).toEqual(['body_unreadable'])
  })

  it('puts the 200 on the wire before a slow handler finishes', async () => {
    const { promise, release } = gate()
    const steps: string[] = []
    const { app } = await build({
      on: {
        'order.completed': async () => {
          steps.push('handler started')
          await promise // stands for 5 s of work
          steps.push('handler finished')
        },
      },
    })
    const res = await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    steps.push(`response ${res.statusCode}`)
    expect(steps).not.toContain('handler finished')
    release()
    await vi.waitFor(() => expect(steps).toContain('handler finished'))
    expect(steps.indexOf('response 200')).toBeLessThan(steps.indexOf('handler finished'))
  })

  it('does not start the handlers before the response has been sent', async () => {
    const steps: string[] = []
    const { app } = await build({ on: { 'order.completed': () => void steps.push('handler') } })
    app.addHook('onSend', async () => void steps.push('onSend'))
    app.addHook('onResponse', async () => void steps.push('onResponse'))
    await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    await vi.waitFor(() => expect(steps).toContain('handler'))
    expect(steps).toEqual(['onSend', 'onResponse', 'handler'])
  })

  it('leaves the app JSON parsing untouched, on routes declared before and after it', async () => {
    const app = Fastify()
    app.post('/before', async (request) => ({ echo: request.body }))
    await app.register(pocketsflowWebhook, { secret: SECRET, logger: quiet })
    app.post('/after', async (request) => ({ echo: request.body }))
    expect((await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))).statusCode).toBe(200)
    for (const url of ['/before', '/after']) {
      const res = await app.inject({ method: 'POST', url, payload: { a: 1 } })
      expect(res.json()).toEqual({ echo: { a: 1 } })
      const text = await app.inject({ method: 'POST', url, headers: { 'content-type': 'text/plain' }, payload: 'hi' })
      expect(text.json()).toEqual({ echo: 'hi' })
      // Not swallowed by the webhook's catch-all parser:
      expect((await app.inject({ method: 'POST', url, headers: { 'content-type': 'application/xml' }, payload: '<a/>' })).statusCode).toBe(415)
    }
  })

  it("gets the raw bytes when the app replaced Fastify's JSON parser for the whole app", async () => {
    const app = Fastify()
    app.removeContentTypeParser('application/json')
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, { parsedByApp: JSON.parse(body as string) }))
    await app.register(pocketsflowWebhook, { secret: SECRET, logger: quiet })
    // ...and one added after the plugin, for good measure.
    app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, { catchAll: body }))
    app.post('/api', async (request) => request.body)
    expect((await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))).statusCode).toBe(200)
    // The bytes, not a re-serialization: added whitespace is a different body.
    const spaced = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(app, { ...spaced, body: spaced.body.replace('{', '{ ') })).statusCode).toBe(401)
    expect((await app.inject({ method: 'POST', url: '/api', payload: { a: 1 } })).json()).toEqual({ parsedByApp: { a: 1 } })
    expect((await app.inject({ method: 'POST', url: '/api', headers: { 'content-type': 'text/csv' }, payload: 'a,b' })).json()).toEqual({ catchAll: 'a,b' })
    const text = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(app, { ...text, headers: { ...text.headers, 'Content-Type': 'text/csv' } })).statusCode).toBe(200)
  })

  it('sets request.pocketsflowEvent for an event accepted as new, for the app hooks to see', async () => {
    const seen: (string | undefined)[] = []
    const app = Fastify()
    app.addHook('onResponse', async (request) => {
      const event = request.pocketsflowEvent
      seen.push(`${request.url} ${event && isEventType(event, 'order.completed') ? event.data.customer.email : String(event)}`)
    })
    await app.register(pocketsflowWebhook, { secret: SECRET, logger: quiet })
    app.get('/health', async () => 'ok')
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { customer: { email: 'b@example.com' } } })
    await post(app, req)
    await post(app, req) // duplicate
    await post(app, { ...req, body: req.body.replace('b@example.com', 'c@example.com') }) // rejected
    await app.inject({ method: 'GET', url: '/health' })
    expect(seen).toEqual([`${PATH} b@example.com`, `${PATH} undefined`, `${PATH} undefined`, '/health undefined'])
  })

  it('passes errors of the app own hooks to the app error handler', async () => {
    const errors: string[] = []
    const app = Fastify()
    app.setErrorHandler((error: Error, _request, reply) => {
      errors.push(error.message)
      return reply.code(403).send({ app: 'forbidden' })
    })
    app.addHook('preHandler', async () => {
      throw new Error('nope')
    })
    await app.register(pocketsflowWebhook, { secret: SECRET, logger: quiet })
    const res = await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    expect(res.statusCode).toBe(403)
    expect(res.json()).toEqual({ app: 'forbidden' })
    expect(errors).toEqual(['nope'])
  })

  it('honours a custom path, under the prefix of the context it is registered in, with or without a trailing slash', async () => {
    const app = Fastify()
    await app.register(async (scope) => void scope.register(pocketsflowWebhook, { secret: SECRET, logger: quiet, path: '/pf' }), { prefix: '/hooks' })
    for (const url of ['/hooks/pf', '/hooks/pf/', '/hooks/pf?source=test']) {
      expect((await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }), url)).statusCode, url).toBe(200)
    }
    expect((await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))).statusCode).toBe(404)
  })

  it('works when the app ignores trailing slashes itself, at the root or under a prefix', async () => {
    const app = Fastify({ routerOptions: { ignoreTrailingSlash: true } })
    await app.register(pocketsflowWebhook, { secret: SECRET, logger: quiet })
    await app.register(async (scope) => void scope.register(pocketsflowWebhook, { secret: SECRET, logger: quiet }), { prefix: '/v2' })
    for (const url of [PATH, `${PATH}/`, `/v2${PATH}`, `/v2${PATH}/`]) {
      expect((await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }), url)).statusCode, url).toBe(200)
    }
  })

  it('still receives two providers on two paths when each is registered in a child context of its own', async () => {
    const app = Fastify()
    const types: string[] = []
    await app.register(async (scope) => {
      await scope.register(pocketsflowWebhook, { secret: SECRET, logger: quiet, onEvent: (event) => void types.push(event.type) })
    })
    await app.register(async (scope) => {
      await scope.register<PocketsflowWebhookOptions<'pocketbook'>>(pocketsflowWebhook, {
        provider: 'pocketbook',
        path: '/webhooks/pocketbook',
        secret: SECRET,
        logger: quiet,
        on: { 'voucher.minted': (event) => void types.push(event.type) },
      })
    })
    expect((await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))).statusCode).toBe(200)
    const voucher = await signedRequest({ provider: 'pocketbook', secret: SECRET, type: 'voucher.minted' })
    expect((await post(app, voucher, '/webhooks/pocketbook')).statusCode).toBe(200)
    await vi.waitFor(() => expect(types.sort()).toEqual(['order.completed', 'voucher.minted']))
  })

  it('fails app.ready() with a clear message for a configuration mistake, or a path registered twice in one context', async () => {
    const empty = Fastify()
    empty.register(pocketsflowWebhook, { secret: '  ', logger: quiet })
    await expect(empty.ready()).rejects.toThrow(/secret/)
    const twice = Fastify()
    twice.register(pocketsflowWebhook, { secret: SECRET, logger: quiet })
    twice.register(pocketsflowWebhook, { secret: SECRET, logger: quiet })
    await expect(twice.ready()).rejects.toThrow(`a webhook is already registered at "${PATH}" in this context`)
  })

  it('accepts a second registration on another path in one context (see registrations.test.ts)', async () => {
    const app = Fastify()
    await app.register(pocketsflowWebhook, { secret: SECRET, logger: quiet })
    await app.register(pocketsflowWebhook, { secret: SECRET, logger: quiet, path: '/other' })
    await expect(app.ready()).resolves.toBe(app)
    for (const url of [PATH, '/other']) expect((await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }), url)).statusCode, url).toBe(200)
  })

  it('decorates the app with the receiver and close(); close() answers 503 from then on and waits for running handlers', async () => {
    const { promise, release } = gate()
    const { app } = await build({ on: { 'order.completed': () => promise } })
    expectTypeOf(app.pocketsflowWebhook.receiver).toEqualTypeOf<WebhookReceiver>()
    expect(app.pocketsflowWebhook.receiver.path).toBe(PATH)
    expect((await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))).statusCode).toBe(200)
    let closed = false
    const closing = app.pocketsflowWebhook.close().then(() => (closed = true))
    const res = await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    expect(res.statusCode).toBe(503)
    expect(res.headers['retry-after']).toBe('5')
    expect(closed).toBe(false)
    release()
    await closing
    expect(closed).toBe(true)
  })

  it('app.close() waits for running handlers', async () => {
    const { promise, release } = gate()
    const steps: string[] = []
    const { app } = await build({
      on: {
        'order.completed': async () => {
          await promise
          steps.push('handler finished')
        },
      },
    })
    expect((await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))).statusCode).toBe(200)
    const closing = app.close().then(() => steps.push('app closed'))
    await new Promise((r) => setTimeout(r, 50))
    expect(steps).toEqual([])
    release()
    await closing
    expect(steps).toEqual(['handler finished', 'app closed'])
  })

  it('app.close() stops waiting after closeTimeoutMs and reports the unfinished event', async () => {
    const failures: string[] = []
    const { app } = await build({
      closeTimeoutMs: 50,
      // A handler that honours its signal: close() aborts it once the time is up.
      on: { 'order.completed': (_event, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))) },
      onEvent: undefined,
      onError: (error) => void failures.push(`${error.event.type}: ${(error.cause as Error).name}`),
    })
    expect((await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))).statusCode).toBe(200)
    await app.close()
    expect(failures).toEqual(['order.completed: WebhookReceiverClosedError'])
  })

  it('types the options per provider and request.pocketsflowEvent', () => {
    expectTypeOf<PocketsflowWebhookOptions['on']>().toEqualTypeOf<PocketsflowWebhookOptions<'pocketsflow'>['on']>()
    type OrderHandler = Extract<NonNullable<NonNullable<PocketsflowWebhookOptions['on']>['order.completed']>, (...args: never[]) => unknown>
    expectTypeOf<Parameters<OrderHandler>[0]['data']['customer']['email']>().toEqualTypeOf<string>()
    expectTypeOf<import('fastify').FastifyRequest['pocketsflowEvent']>().toEqualTypeOf<PocketsflowRequestEvent | undefined>()
    // Compile-time only (never called): handlers are typed without annotations.
    const compileOnly = (app: FastifyInstance) => {
      void app.register(pocketsflowWebhook, { secret: SECRET, on: { 'order.completed': (event) => void event.data.customer.email.toLowerCase() } })
      // @ts-expect-error an unknown provider
      void app.register(pocketsflowWebhook, { secret: SECRET, provider: 'nope' })
      // @ts-expect-error the customer's email is a string
      void app.register(pocketsflowWebhook, { secret: SECRET, on: { 'order.completed': (event) => void (event.data.customer.email satisfies number) } })
    }
    expect(compileOnly).toBeTypeOf('function')
  })
})

describe('from CommonJS', () => {
  it('require() gives the same plugin', async () => {
    const require = createRequire(import.meta.url)
    const cjs = require('../dist/index.cjs') as typeof import('../src/index.js')
    const app = Fastify()
    await app.register(cjs.pocketsflowWebhook, { secret: SECRET, logger: quiet })
    expect((await post(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))).statusCode).toBe(200)
    expect(app.pocketsflowWebhook.receiver.path).toBe(PATH)
  })
})
