// createFetchHandler: Request in, Response out, on both entries (node:crypto and Web Crypto), with
// the answers every adapter gives, the body streamed under the size cap whatever Content-Length
// says, and the handlers run after the response (through waitUntil when the host gives one).
import { describe, expect, it, vi } from 'vitest'
import { createFetchHandler as nodeFetchHandler, type WebhookEvent } from '../src/index.js'
import { signedRequest } from '../src/testing/index.js'
import { createFetchHandler as webFetchHandler } from '../src/web.js'

const SECRET = 'whsec_fetch_handler_test_0123456789'
const URL = 'https://shop.example/webhooks/pocketsflow'
const quiet = { debug() {}, info() {}, warn() {}, error() {} }

type Delivery = Awaited<ReturnType<typeof signedRequest>>
const requestOf = (delivery: Delivery, init: RequestInit = {}) => new Request(URL, { method: 'POST', headers: delivery.headers, body: delivery.body, ...init })

/** A body stream of `size` bytes in chunks, with no Content-Length. */
function streamOf(size: number): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream({
    pull(controller) {
      if (sent >= size) return controller.close()
      const chunk = new Uint8Array(Math.min(16 * 1024, size - sent)).fill(0x20)
      sent += chunk.byteLength
      controller.enqueue(chunk)
    },
  })
}

describe.each([
  ['root entry (node:crypto)', nodeFetchHandler],
  ['/web entry (Web Crypto)', webFetchHandler],
])('createFetchHandler, %s', (_name, createFetchHandler) => {
  function handler(options: { handler?: (event: WebhookEvent) => unknown; bodyLimit?: number; logger?: typeof quiet } = {}) {
    const handled: string[] = []
    const handle = createFetchHandler({
      secret: SECRET,
      logger: options.logger ?? quiet,
      retry: false,
      ...(options.bodyLimit ? { bodyLimit: options.bodyLimit } : {}),
      onEvent: async (event) => {
        await options.handler?.(event)
        handled.push(event.id)
      },
    })
    return { handle, handled }
  }

  it('answers 200 before the handler runs, then runs it once; a duplicate is 200 and runs nothing', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const { handle, handled } = handler({ handler: () => gate })
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const res = await handle(requestOf(delivery))
    expect([res.status, await res.text()]).toEqual([200, '{"received":true}'])
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(handled).toEqual([])
    release()
    await vi.waitFor(() => expect(handled).toHaveLength(1))
    const again = await handle(requestOf(delivery))
    expect(await again.text()).toBe('{"received":true,"duplicate":true}')
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(handled).toHaveLength(1)
  })

  it('hands the handlers to waitUntil, which settles once they are done (at once for a refused delivery)', async () => {
    const { handle, handled } = handler({ handler: () => new Promise((resolve) => setTimeout(resolve, 50)) })
    const kept: Promise<unknown>[] = []
    const waitUntil = (promise: Promise<unknown>) => void kept.push(promise)
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
    await handle(requestOf(delivery), { waitUntil })
    expect(kept).toHaveLength(1)
    expect(handled).toHaveLength(0)
    await kept[0]
    expect(handled).toHaveLength(1)
    // A forgery: the hold is given back at once, nothing runs.
    expect((await handle(requestOf(delivery, { body: `${delivery.body} ` }), { waitUntil })).status).toBe(401)
    await kept[1]
    expect(handled).toHaveLength(1)
  })

  it('a waitUntil that throws (passed unbound) is a configuration error answered before anything is claimed, not a 200 whose handlers never run', async () => {
    const errors: unknown[][] = []
    const { handle, handled } = handler({ logger: { debug() {}, info() {}, warn() {}, error: (...args: unknown[]) => void errors.push(args) } })
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const host = {
      waitUntil(this: unknown, promise: Promise<unknown>) {
        if (this !== host) throw new TypeError('Illegal invocation')
        void promise
      },
    }
    const unbound = await handle(requestOf(delivery), { waitUntil: host.waitUntil })
    expect(unbound.status).toBe(500)
    expect(await unbound.json()).toEqual({ error: 'webhook receiver misconfigured' })
    expect(JSON.stringify(errors)).toMatch(/waitUntil threw \(Illegal invocation\): pass the host's waitUntil bound to its context/)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(handled).toHaveLength(0)
    // Nothing was claimed: the same delivery, once the waitUntil is bound, is new and handled.
    const bound = await handle(requestOf(delivery), { waitUntil: host.waitUntil.bind(host) })
    expect(await bound.json()).toEqual({ received: true })
    await vi.waitFor(() => expect(handled).toHaveLength(1))
  })

  it('on Cloudflare Workers without a waitUntil, warns once that the handlers would not run', async () => {
    const warnings: unknown[][] = []
    const logger = { debug() {}, info() {}, error() {}, warn: (...args: unknown[]) => void warnings.push(args) }
    const { handle } = handler({ logger })
    const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'navigator')
    Object.defineProperty(globalThis, 'navigator', { value: { userAgent: 'Cloudflare-Workers' }, configurable: true, writable: true })
    try {
      for (let i = 0; i < 2; i++) await handle(requestOf(await signedRequest({ secret: SECRET, type: 'order.completed' })))
    } finally {
      if (descriptor) Object.defineProperty(globalThis, 'navigator', descriptor)
      else delete (globalThis as { navigator?: unknown }).navigator
    }
    expect(warnings).toHaveLength(1)
    expect(String(warnings[0]?.[1])).toMatch(/no waitUntil on Cloudflare Workers: .*ctx\.waitUntil\.bind\(ctx\)/)
  })

  it('answers like every adapter: 401 forged, 405 with Allow for another method, 400 malformed', async () => {
    const { handle, handled } = handler()
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await handle(requestOf(delivery, { body: `${delivery.body} ` }))).status).toBe(401)
    const get = await handle(new Request(URL, { method: 'GET', headers: delivery.headers }))
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST'])
    const malformed = await signedRequest({ secret: SECRET, type: 'order.completed', body: '{"event":' })
    expect((await handle(requestOf(malformed))).status).toBe(400)
    expect(handled).toEqual([])
  })

  it('streams the body under bodyLimit: 413 for a declared length over it, and for a longer body without one', async () => {
    const { handle } = handler({ bodyLimit: 1024 })
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const declared = await handle(requestOf(delivery, { headers: { ...delivery.headers, 'content-length': '2048' } }))
    expect(declared.status).toBe(413)
    const streamed = await handle(requestOf(delivery, { body: streamOf(64 * 1024), duplex: 'half' } as RequestInit))
    expect(streamed.status).toBe(413)
  })

  it('answers 500 with the fix in the log when the body was read before it', async () => {
    const errors: string[] = []
    const handle = createFetchHandler({ secret: SECRET, logger: { ...quiet, error: (_o, msg) => void errors.push(msg ?? '') } })
    const request = requestOf(await signedRequest({ secret: SECRET, type: 'order.completed' }))
    await request.text()
    expect((await handle(request)).status).toBe(500)
    expect(errors.join(' ')).toMatch(/request\.clone\(\)/)
    // Locked by a reader someone took, unread: the same mounting mistake, not the sender's 400.
    const locked = requestOf(await signedRequest({ secret: SECRET, type: 'order.completed' }))
    locked.body?.getReader()
    expect((await handle(locked)).status).toBe(500)
  })

  it('has close(), deadLetters() and replay(): 503 once closed, a failed event listed and replayed', async () => {
    let fail = true
    const { handle, handled } = handler({
      handler: () => {
        if (fail) throw new Error('fulfilment down')
      },
    })
    await handle(requestOf(await signedRequest({ secret: SECRET, type: 'order.completed' })))
    await vi.waitFor(async () => expect(await handle.deadLetters()).toHaveLength(1))
    const [letter] = await handle.deadLetters()
    fail = false
    expect(await handle.replay(letter?.id as string)).toBe(true)
    await vi.waitFor(() => expect(handled).toHaveLength(1))
    await handle.close()
    expect((await handle(requestOf(await signedRequest({ secret: SECRET, type: 'order.completed' })))).status).toBe(503)
  })
})
