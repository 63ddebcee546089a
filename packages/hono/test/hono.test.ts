// The Hono adapter through app.request() (the Fetch path Workers, Bun and Deno take), with a fake
// Workers ExecutionContext, and through real HTTP with @hono/node-server: the core's answers, the
// handlers after the response (through waitUntil where there is one), c.var.pocketsflowEvent.
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { serve, type ServerType } from '@hono/node-server'
import { Hono, type ExecutionContext } from 'hono'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { isEventType, pocketsflowWebhook, type PocketsflowWebhookOptions, type WebhookEvent } from '../src/index.js'

const SECRET = 'whsec_hono_adapter_test_0123456789'
const PATH = '/webhooks/pocketsflow'
const quiet = { debug() {}, info() {}, warn() {}, error() {} }
type Delivery = Awaited<ReturnType<typeof signedRequest>>

function setup(options: Partial<PocketsflowWebhookOptions> & { handler?: (event: WebhookEvent) => unknown } = {}) {
  const handled: string[] = []
  const { handler, ...rest } = options
  const webhook = pocketsflowWebhook({
    secret: SECRET,
    logger: quiet,
    retry: false,
    onEvent: async (event) => {
      await handler?.(event)
      handled.push(event.id)
    },
    ...rest,
  })
  const app = new Hono()
  app.all(PATH, webhook)
  return { app, webhook, handled }
}

/** Sends a delivery through app.request() or real HTTP, the same way. */
type Send = (app: Hono, delivery: Delivery, init?: RequestInit) => Promise<Response>

const servers: ServerType[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))))
})

const overAppRequest: Send = async (app, delivery, init = {}) =>
  app.request(PATH, { method: 'POST', headers: delivery.headers, body: delivery.body, ...init })

const overHttp: Send = async (app, delivery, init = {}) => {
  let server = (app as { server?: ServerType }).server
  if (!server) {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
    if (!server.listening) await once(server, 'listening')
    servers.push(server)
    Object.assign(app, { server })
  }
  const { port } = server.address() as AddressInfo
  return fetch(`http://127.0.0.1:${port}${PATH}`, { method: 'POST', headers: delivery.headers, body: delivery.body, ...init })
}

describe.each([
  ['app.request()', overAppRequest],
  ['real HTTP (@hono/node-server)', overHttp],
])('pocketsflowWebhook through %s', (_name, send) => {
  it('answers 200 before the handler runs, then runs it once; a duplicate is 200 and runs nothing', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const { app, handled } = setup({ handler: () => gate })
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const res = await send(app, delivery)
    expect([res.status, await res.text()]).toEqual([200, '{"received":true}'])
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(handled).toEqual([])
    release()
    await vi.waitFor(() => expect(handled).toHaveLength(1))
    const again = await send(app, delivery)
    expect([again.status, await again.text()]).toEqual([200, '{"received":true,"duplicate":true}'])
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(handled).toHaveLength(1)
  })

  it('answers 401 to a forged delivery and runs nothing', async () => {
    const { app, handled } = setup()
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const forged = await send(app, { ...delivery, body: delivery.body.replace('}', ',"x":1}') })
    expect(forged.status).toBe(401)
    const wrongSecret = await send(app, await signedRequest({ secret: 'whsec_someone_else_entirely', type: 'order.completed' }))
    expect(wrongSecret.status).toBe(401)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(handled).toEqual([])
  })

  it('answers 405 with Allow: POST to another method', async () => {
    const { app } = setup()
    const res = await send(app, await signedRequest({ secret: SECRET, type: 'order.completed' }), { method: 'GET', body: null })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe('POST')
  })

  it('answers 413 to a body over bodyLimit', async () => {
    const { app, handled } = setup({ bodyLimit: 1024 })
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { padding: 'x'.repeat(4096) } })
    expect((await send(app, delivery)).status).toBe(413)
    expect(handled).toEqual([])
  })

  it('answers 503 once closed', async () => {
    const { app, webhook } = setup()
    await webhook.close()
    const res = await send(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    expect(res.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('5')
  })

  it('keeps a failed event as a dead letter, and replays it', async () => {
    let fail = true
    const { app, webhook, handled } = setup({
      handler: () => {
        if (fail) throw new Error('fulfilment down')
      },
    })
    expect((await send(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(async () => expect(await webhook.deadLetters()).toHaveLength(1))
    const [letter] = await webhook.deadLetters()
    expect(letter).toMatchObject({ type: 'order.completed', lastError: 'fulfilment down' })
    fail = false
    expect(await webhook.replay(letter?.id as string)).toBe(true)
    await vi.waitFor(() => expect(handled).toEqual([letter?.id]))
    expect(await webhook.deadLetters()).toEqual([])
    expect(webhook.receiver.provider).toBe('pocketsflow')
  })

  it('sets c.var.pocketsflowEvent for a new delivery, for middleware around it; not for a duplicate', async () => {
    const seen: unknown[] = []
    const app = new Hono()
    app.use(async (c, next) => {
      await next()
      seen.push(c.var.pocketsflowEvent?.type)
    })
    app.post(PATH, pocketsflowWebhook({ secret: SECRET, logger: quiet }))
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await send(app, delivery)).status).toBe(200)
    expect((await send(app, delivery)).status).toBe(200)
    expect(seen).toEqual(['order.completed', undefined])
  })

  it('with callNext, the handlers after it see c.var.pocketsflowEvent and can not change the answer', async () => {
    const seen: string[] = []
    const app = new Hono()
    app.onError((_error, c) => c.text('boom', 500))
    app.post(PATH, pocketsflowWebhook({ secret: SECRET, logger: quiet, callNext: true }), (c) => {
      const event = c.var.pocketsflowEvent
      if (event && isEventType(event, 'order.completed')) seen.push(event.data.customer.email)
      if (seen.length > 1) throw new Error('downstream failed')
      c.header('x-request-id', 'req-1')
      return c.text('downstream', 202)
    })
    const first = await send(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    expect([first.status, await first.text()]).toEqual([200, '{"received":true}'])
    expect(first.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(first.headers.get('x-request-id')).toBe('req-1')
    const second = await send(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    expect([second.status, await second.text()]).toEqual([200, '{"received":true}'])
    expect(seen).toHaveLength(2)
    // A rejection never reaches them.
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await send(app, { ...delivery, body: `${delivery.body} ` })).status).toBe(401)
    expect(seen).toHaveLength(2)
  })

  it('answers the configuration error when something read the body before it', async () => {
    const errors: string[] = []
    const app = new Hono()
    app.post(
      PATH,
      async (c, next) => {
        await c.req.raw.text()
        await next()
      },
      pocketsflowWebhook({ secret: SECRET, logger: { ...quiet, error: (_o: unknown, msg?: string) => void errors.push(msg ?? '') } }),
    )
    expect((await send(app, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(500)
    expect(errors.join(' ')).toMatch(/request\.clone\(\)/)
  })
})

describe('pocketsflowWebhook on a host with an ExecutionContext (Cloudflare Workers)', () => {
  function executionContext(waitUntil: (promise: Promise<unknown>) => void): ExecutionContext {
    return { waitUntil, passThroughOnException() {}, props: {} }
  }

  it('hands the handlers to c.executionCtx.waitUntil, started after the response', async () => {
    const { app, handled } = setup()
    const waited: Promise<unknown>[] = []
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const request = new Request(`https://shop.example${PATH}`, { method: 'POST', headers: delivery.headers, body: delivery.body })
    const res = await app.fetch(request, {}, executionContext((promise) => waited.push(promise)))
    expect(res.status).toBe(200)
    expect(waited).toHaveLength(1)
    expect(handled).toEqual([])
    await waited[0]
    expect(handled).toHaveLength(1)
  })

  it('a waitUntil that throws is a configuration error (500) answered before anything is claimed', async () => {
    const { app, handled } = setup()
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const request = () => new Request(`https://shop.example${PATH}`, { method: 'POST', headers: delivery.headers, body: delivery.body })
    const broken = executionContext(() => {
      throw new Error('outside a request')
    })
    const refused = await app.fetch(request(), {}, broken)
    expect(refused.status).toBe(500)
    expect(await refused.json()).toEqual({ error: 'webhook receiver misconfigured' })
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(handled).toHaveLength(0)
    // Nothing was claimed: with a working context the same delivery is new, and handled.
    const kept: Promise<unknown>[] = []
    const accepted = await app.fetch(request(), {}, executionContext((promise) => void kept.push(promise)))
    expect(await accepted.json()).toEqual({ received: true })
    await kept[0]
    expect(handled).toHaveLength(1)
  })

  it('runs the handlers without an ExecutionContext (c.executionCtx throws: Node, Bun, Deno)', async () => {
    const { app, handled } = setup()
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const request = new Request(`https://shop.example${PATH}`, { method: 'POST', headers: delivery.headers, body: delivery.body })
    expect((await app.fetch(request)).status).toBe(200)
    await vi.waitFor(() => expect(handled).toHaveLength(1))
  })
})

describe('pocketsflowWebhook options', () => {
  it('fails at construction on an empty secret', () => {
    expect(() => pocketsflowWebhook({ secret: '  ' })).toThrow(/secret/i)
  })
})
