// Regressions from review: user code and slow dependencies must never cost a delivery, crash the
// process or make close() lie.
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest'
import * as node from '../src/index.js'
import {
  createWebhookReceiver,
  isEventType,
  MemoryDedupeStore,
  signWebhook,
  WebhookHandlerError,
  WebhookReceiverClosedError,
  type AnyEventFor,
  type DedupeStore,
  type Logger,
  type PocketsflowEvent,
} from '../src/index.js'
import { describeThrown } from '../src/inbox-toolkit.js'
import * as web from '../src/web.js'

const SECRET = 'whsec_robustness'

async function delivery(data: Record<string, unknown> = {}, type = 'order.completed') {
  const body = JSON.stringify({ event: type, customer: { email: 'r@example.com' }, ...data })
  return { method: 'POST', headers: await signWebhook({ secret: SECRET, body, type }), body }
}

afterEach(() => vi.useRealTimers())

describe('user loggers cannot break the pipeline', () => {
  it.each([
    ['a logger missing methods', { warn() {} } as unknown as Logger],
    ['a logger whose methods throw', { debug: () => { throw new Error('d') }, info: () => { throw new Error('i') }, warn: () => { throw new Error('w') }, error: () => { throw new Error('e') } }],
  ])('%s', async (_label, logger) => {
    let calls = 0
    const r = createWebhookReceiver({ secret: SECRET, logger, retry: false, on: { 'order.completed': () => { calls++; throw new Error('fails') } } })
    const d = await delivery()
    const first = await r.handle(d)
    expect(first.response.status).toBe(200)
    await expect(first.after?.()).resolves.toBeUndefined()
    // failed for good, so released: the same delivery is processed again
    const again = await r.handle(d)
    expect(again.after).toBeTypeOf('function')
    await again.after?.()
    expect(calls).toBe(2)
    expect((await r.handle({ ...d, headers: {} })).response.status).toBe(401)
    await r.close({ timeoutMs: 100 })
  })

  it('keeps `this` for pino-style loggers', async () => {
    const lines: string[] = []
    const logger = { prefix: 'p:', debug() {}, info() {}, error() {}, warn(this: { prefix: string }, _o: object, msg?: string) { lines.push(this.prefix + msg) } }
    const r = createWebhookReceiver({ secret: SECRET, logger })
    await r.handle({ method: 'POST', headers: {}, body: '' })
    expect(lines).toEqual(['p:webhook delivery rejected: missing_signature'])
  })
})

describe('handlers that throw strange things', () => {
  it.each([
    ['a null-prototype object', () => Object.create(null)],
    ['an object whose toString throws', () => ({ toString() { throw new Error('no') } })],
    ['undefined', () => undefined],
  ])('%s reaches onError and is released', async (_label, make) => {
    const onError = vi.fn()
    const r = createWebhookReceiver({ secret: SECRET, logger: false, retry: false, onError, on: { 'order.completed': () => Promise.reject(make()) } })
    const d = await delivery()
    await (await r.handle(d)).after?.()
    expect(onError).toHaveBeenCalledOnce()
    expect(onError.mock.calls[0]?.[0]).toBeInstanceOf(WebhookHandlerError)
    expect((await r.handle(d)).after).toBeTypeOf('function')
  })
})

describe('describeThrown', () => {
  it('describes every thrown value without throwing itself', () => {
    const cyclic: Record<string, unknown> = {}
    cyclic['self'] = cyclic
    expect(describeThrown(new Error('boom'))).toBe('boom')
    expect(describeThrown(new TypeError(''))).toBe('TypeError')
    expect(describeThrown('plain')).toBe('plain')
    expect(describeThrown({ code: 'E_UPSTREAM' })).toBe('{"code":"E_UPSTREAM"}')
    expect(describeThrown(Object.assign(Object.create(null) as object, { a: 1 }))).toBe('{"a":1}')
    expect(describeThrown(undefined)).toBe('undefined')
    expect(describeThrown(cyclic)).toBe('[object Object]')
    expect(describeThrown(Object.create(null))).toBe('{}')
    const hostile = new Proxy({}, { get() { throw new Error('no') }, ownKeys() { throw new Error('no') } })
    expect(describeThrown(hostile)).toBe('a thrown value that cannot be printed')
  })
})

describe('close()', () => {
  it.each([
    ['the Web Crypto entry', web, undefined],
    ['an async dedupe store', node, 'async'],
  ] as const)('never resolves before a request already in progress is answered (%s)', async (_label, api, storeKind) => {
    const memory = new MemoryDedupeStore()
    const store: DedupeStore | undefined =
      storeKind === 'async'
        ? {
            claim: async (k) => {
              await new Promise((r) => setTimeout(r, 20))
              return memory.claim(k)
            },
            complete: (k) => memory.complete(k),
            release: (k) => memory.release(k),
          }
        : undefined
    const handler = vi.fn()
    const r = api.createWebhookReceiver({ secret: SECRET, logger: false, on: { 'order.completed': handler }, ...(store ? { dedupe: store } : {}) })
    const d = await delivery()
    const handling = r.handle(d)
    let closed = false
    const closing = r.close().then(() => (closed = true))
    const result = await handling
    // Either the delivery was refused, or it was accepted and close() waits for its handler.
    if (result.response.status === 200) {
      expect(closed).toBe(false)
      await result.after?.()
      expect(handler).toHaveBeenCalledOnce()
    } else {
      expect(result.response.status).toBe(503)
      expect(memory.size).toBe(0) // refused, so not remembered as seen
    }
    await closing
    expect(closed).toBe(true)
  })

  it('a delivery refused because close() began during its claim is released, not kept as seen', async () => {
    const memory = new MemoryDedupeStore()
    let r: ReturnType<typeof createWebhookReceiver>
    let closing: Promise<void> | undefined
    const store: DedupeStore = {
      claim: (k) => {
        closing = r.close()
        return memory.claim(k)
      },
      complete: (k) => memory.complete(k),
      release: (k) => memory.release(k),
    }
    r = createWebhookReceiver({ secret: SECRET, logger: false, dedupe: store })
    const result = await r.handle(await delivery())
    expect(result.response.status).toBe(503)
    expect(memory.size).toBe(0)
    await closing
  })

  it('close({ timeoutMs }) is bounded even when the store hangs', async () => {
    const hang = () => new Promise<never>(() => {})
    const store: DedupeStore = { claim: () => true, complete: hang, release: hang, close: hang }
    const onError = vi.fn()
    const r = createWebhookReceiver({
      secret: SECRET,
      logger: false,
      dedupe: store,
      storeTimeoutMs: 50,
      onError,
      on: { 'order.completed': (_e, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))) },
    })
    const result = await r.handle(await delivery())
    void result.after?.()
    const started = Date.now()
    await r.close({ timeoutMs: 100 })
    expect(Date.now() - started).toBeLessThan(2000)
    expect((onError.mock.calls[0]?.[0] as WebhookHandlerError).cause).toBeInstanceOf(WebhookReceiverClosedError)
    expect((onError.mock.calls[0]?.[0] as WebhookHandlerError).attempts).toBe(1)
  })
})

describe('dedupe store deadlines', () => {
  it('answers 503 when a claim takes too long, and processes the event once the claim lands late (a re-send is then a duplicate)', async () => {
    const memory = new MemoryDedupeStore()
    let delayMs = 80
    const store: DedupeStore = {
      claim: (k, type) => new Promise((resolve) => setTimeout(() => resolve(memory.claim(k, type)), delayMs)),
      complete: (k) => memory.complete(k),
      release: (k) => memory.release(k),
    }
    const handler = vi.fn()
    const r = createWebhookReceiver({ secret: SECRET, logger: false, dedupe: store, storeTimeoutMs: 20, on: { 'order.completed': handler } })
    const d = await delivery()
    expect((await r.handle(d)).response.status).toBe(503)
    expect(handler).not.toHaveBeenCalled()
    await vi.waitFor(() => expect(handler).toHaveBeenCalledOnce(), { timeout: 500 })
    delayMs = 0
    expect((await r.handle(d)).response.body).toBe('{"received":true,"duplicate":true}')
    await r.close()
    expect(handler).toHaveBeenCalledOnce()
  })

  it('rejects timer values that setTimeout cannot honour, and takes Infinity as "no limit"', async () => {
    expect(() => createWebhookReceiver({ secret: SECRET, handlerTimeoutMs: 2 ** 31 })).toThrow(/handlerTimeoutMs/)
    expect(() => createWebhookReceiver({ secret: SECRET, retry: { maxDelayMs: 2 ** 31 } })).toThrow(/maxDelayMs/)
    expect(() => createWebhookReceiver({ secret: SECRET, storeTimeoutMs: 0 })).toThrow(/storeTimeoutMs/)
    const onError = vi.fn()
    const r = createWebhookReceiver({
      secret: SECRET,
      logger: false,
      handlerTimeoutMs: Infinity,
      onError,
      on: { 'order.completed': () => new Promise((resolve) => setTimeout(resolve, 30)) },
    })
    await (await r.handle(await delivery())).after?.()
    expect(onError).not.toHaveBeenCalled()
  })
})

describe('inputs at the edges', () => {
  it('stores long idempotency keys as their hash, so memory is bounded by the entry count', async () => {
    const r = createWebhookReceiver({ secret: SECRET, logger: false, idempotencyKey: (e) => `k${JSON.stringify(e.data)}`.repeat(50) })
    const first = await r.handle(await delivery({ n: 1 }))
    expect(first.event?.id).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect((await r.handle(await delivery({ n: 1 }))).response.body).toContain('duplicate')
  })

  it('accepts an ArrayBuffer body (request.arrayBuffer())', async () => {
    const d = await delivery()
    const result = await createWebhookReceiver({ secret: SECRET, logger: false }).handle({ ...d, body: new TextEncoder().encode(d.body).buffer })
    expect(result.response.status).toBe(200)
    expect((await node.verifyWebhook({ secret: SECRET, headers: d.headers, body: new TextEncoder().encode(d.body).buffer })).ok).toBe(true)
  })

  it('accepts a UTF-8 byte order mark on both entries', async () => {
    const text = '\uFEFF{"event":"order.completed"}'
    const bytes = new TextEncoder().encode(text)
    const headers = await signWebhook({ secret: SECRET, body: bytes })
    for (const api of [node, web]) {
      expect(await api.verifyWebhook({ secret: SECRET, headers, body: bytes })).toMatchObject({ ok: true })
    }
  })

  it('rejects timestamps a Date cannot hold, even with the tolerance off', async () => {
    const headers = await signWebhook({ secret: SECRET, body: '{}', type: 'x' })
    for (const value of ['9999999999999999', '8640000000000001']) {
      const result = await node.verifyWebhook({ secret: SECRET, body: '{}', headers: { ...headers, 'X-Pocketsflow-Timestamp': value }, tolerance: false })
      expect(result).toEqual({ ok: false, reason: 'invalid_timestamp' })
    }
    const sb = await signWebhook({ provider: 'pocketbook', secret: SECRET, body: '{"type":"x"}' })
    const forged = { 'X-Webhook-Signature': (sb['X-Webhook-Signature'] as string).replace(/t=\d+/, 't=9999999999999') }
    expect(await node.verifyWebhook({ provider: 'pocketbook', secret: SECRET, headers: forged, body: '{"type":"x"}', tolerance: false })).toEqual({ ok: false, reason: 'invalid_timestamp' })
  })

  it('reports the skew with millisecond precision', async () => {
    const now = Date.UTC(2026, 0, 1)
    const headers = await signWebhook({ secret: SECRET, body: '{}', type: 'x', timestamp: now - 300_400 })
    expect(await node.verifyWebhook({ secret: SECRET, headers, body: '{}', now: () => now })).toMatchObject({ skewSeconds: 300.4 })
  })

  it('events keep their id and timestamp when spread, cloned or serialized', async () => {
    const d = await delivery()
    const result = await node.verifyWebhook({ secret: SECRET, headers: d.headers, body: d.body })
    if (!result.ok) throw new Error(result.reason)
    const copy = { ...result.event }
    expect(copy.id).toMatch(/^[0-9a-f]{64}$/)
    expect(copy.timestamp).toBeInstanceOf(Date)
    expect(structuredClone(result.event).id).toBe(copy.id)
    expect(JSON.parse(JSON.stringify(result.event))).toMatchObject({ id: copy.id, type: 'order.completed' })
    expect(Object.keys(result.event)).toEqual(['id', 'type', 'deliveredType', 'data', 'payload', 'provider', 'timestamp', 'testMode', 'verification'])
  })

  it('isEventType matches either spelling of the paused event, and is typed by the canonical one', () => {
    const event = { type: 'customer.subscription.paused', provider: 'pocketsflow' } as unknown as AnyEventFor<'pocketsflow'>
    expect(isEventType(event, 'customer.subscription.pause')).toBe(true)
    expect(isEventType(event, 'customer.subscription.paused')).toBe(true)
    if (isEventType(event, 'customer.subscription.pause')) expectTypeOf(event).toEqualTypeOf<PocketsflowEvent<'customer.subscription.paused'>>()
    // @ts-expect-error: a typo is not an event type
    isEventType(event, 'order.complete')
  })

  it('does not pile listeners on a shared signal when many attempts run at once', async () => {
    const warnings: Error[] = []
    const onWarning = (w: Error) => warnings.push(w)
    process.on('warning', onWarning)
    try {
      const r = createWebhookReceiver({ secret: SECRET, logger: false, dedupe: false, on: { 'order.completed': () => new Promise((res) => setTimeout(res, 10)) } })
      const results = await Promise.all(Array.from({ length: 30 }, async (_, i) => r.handle(await delivery({ i }))))
      await Promise.all(results.map((x) => x.after?.()))
      await new Promise((res) => setTimeout(res, 10))
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([])
    } finally {
      process.off('warning', onWarning)
    }
  })

  it('a signal read only after the attempt timed out is already aborted', async () => {
    let late: AbortSignal | undefined
    const r = createWebhookReceiver({
      secret: SECRET,
      logger: false,
      retry: false,
      handlerTimeoutMs: 10,
      on: {
        'order.completed': async (_e, ctx) => {
          await new Promise((res) => setTimeout(res, 40))
          late = ctx.signal
        },
      },
    })
    await (await r.handle(await delivery())).after?.()
    await vi.waitFor(() => expect(late?.aborted).toBe(true))
  })

  it('builds no debug records for a logger that says debug is off', async () => {
    const debugCalls = vi.fn()
    const logger = { isLevelEnabled: (level: string) => level !== 'debug', debug: debugCalls, info() {}, warn() {}, error() {} }
    const r = createWebhookReceiver({ secret: SECRET, logger, on: { 'order.completed': () => {} } })
    await (await r.handle(await delivery())).after?.()
    expect(debugCalls).not.toHaveBeenCalled()
  })

  it('works with promises, byte arrays and stores from another JavaScript realm (Next.js Edge sandbox)', async () => {
    const { runInNewContext } = await import('node:vm')
    const foreign = runInNewContext('({ Promise, Uint8Array, ArrayBuffer })') as { Promise: PromiseConstructor; Uint8Array: Uint8ArrayConstructor; ArrayBuffer: ArrayBufferConstructor }
    const d = await delivery()
    const bytes = new TextEncoder().encode(d.body)
    const foreignBytes = new foreign.Uint8Array(bytes.length)
    foreignBytes.set(bytes)
    expect(foreignBytes instanceof Uint8Array).toBe(false)
    const memory = new MemoryDedupeStore()
    const store: DedupeStore = {
      claim: (k) => foreign.Promise.resolve(memory.claim(k)) as Promise<boolean>,
      complete: (k) => foreign.Promise.resolve(memory.complete(k)) as Promise<void>,
      release: (k) => foreign.Promise.resolve(memory.release(k)) as Promise<void>,
    }
    for (const api of [node, web]) {
      const handler = vi.fn()
      const r = api.createWebhookReceiver({ secret: SECRET, logger: false, dedupe: store, on: { 'order.completed': () => foreign.Promise.resolve(handler()) } })
      const result = await r.handle({ ...d, body: foreignBytes, headers: { ...d.headers } })
      expect(result.response.status).toBe(200)
      await result.after?.()
      expect(handler).toHaveBeenCalledOnce()
      memory.release(result.event?.id as string)
      expect((await api.verifyWebhook({ secret: SECRET, headers: d.headers, body: foreignBytes.buffer })).ok).toBe(true)
    }
  })
})
