// The core's side of durable inboxes: what the receiver does with one, the per-attempt processor
// the engines run, and the event's text form. The engines' own tests (packages/redis, packages/postgres)
// cover durability against the real servers.
import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import {
  createWebhookReceiver,
  signWebhook,
  startInboxWorker,
  verifyWebhook,
  WebhookHandlerError,
  WebhookHandlerTimeoutError,
  type WebhookEvent,
  type WebhookInbox,
} from '../src/index.js'
import { parseEvent, serializeEvent, type InboxAttempt, type InboxProcessor } from '../src/inbox-toolkit.js'
import { signedRequest } from '../src/testing/index.js'

const SECRET = 'whsec_inbox_test_secret_0123456789'

/** An inbox that keeps events in a Map: enough to see what the receiver asks of an engine. */
class FakeInbox implements WebhookInbox {
  readonly events = new Map<string, string>()
  processor: InboxProcessor | undefined
  recordImpl: ((event: WebhookEvent) => Promise<boolean>) | undefined
  closedWith: { timeoutMs?: number } | undefined

  record(event: WebhookEvent): Promise<boolean> {
    if (this.recordImpl) return this.recordImpl(event)
    if (this.events.has(event.id)) return Promise.resolve(false)
    this.events.set(event.id, serializeEvent(event))
    return Promise.resolve(true)
  }
  start(processor: InboxProcessor): void {
    this.processor = processor
  }
  async close(options?: { timeoutMs?: number }): Promise<void> {
    this.closedWith = options ?? {}
  }
  async deadLetters() {
    return []
  }
  async replay() {
    return false
  }
  /** What a worker does with a recorded event: one attempt. */
  run(id: string, attempt: Omit<InboxAttempt, 'event'> = { attempt: 1 }) {
    return (this.processor as InboxProcessor).run({ ...attempt, event: parseEvent(this.events.get(id) as string) })
  }
}

async function delivery(type = 'order.completed') {
  const body = JSON.stringify({ event: type, customer: { email: 'jane@example.com' }, amount: 10 })
  return { method: 'POST', headers: await signWebhook({ secret: SECRET, body, type }), body: Buffer.from(body) }
}

/** A FakeInbox on a named queue, as the engines name theirs (`WebhookInbox.queue`). */
class QueuedInbox extends FakeInbox {
  constructor(readonly queue: string) {
    super()
  }
}

describe('who consumes an inbox, within a process', () => {
  const handlers = { onEvent: () => {}, logger: false as const }

  it('refuses one inbox object given to two receivers, or to a receiver and a worker', async () => {
    const inbox = new FakeInbox()
    const first = createWebhookReceiver({ secret: SECRET, inbox, ...handlers })
    expect(() => createWebhookReceiver({ secret: SECRET, inbox, path: '/other', ...handlers })).toThrow(/already runs the handlers of another receiver/)
    expect(() => startInboxWorker({ inbox, ...handlers })).toThrow(/already runs the handlers of another receiver/)
    await first.close()
  })

  it('refuses a queue consumed by another receiver (another provider, or another path of one)', async () => {
    const queue = `queue ${Math.random()}`
    const first = createWebhookReceiver({ secret: SECRET, inbox: new QueuedInbox(queue), ...handlers })
    expect(() => createWebhookReceiver({ provider: 'pocketbook', secret: SECRET, inbox: new QueuedInbox(queue), ...handlers })).toThrow(
      /already consumed in this process by the pocketsflow receiver on \/webhooks\/pocketsflow[\s\S]*pocketbook receiver/,
    )
    expect(() => createWebhookReceiver({ secret: SECRET, path: '/webhooks/other-shop', inbox: new QueuedInbox(queue), ...handlers })).toThrow(/already consumed/)
    expect(() => startInboxWorker({ provider: 'pocketbook', inbox: new QueuedInbox(queue), ...handlers })).toThrow(/already consumed/)
    // Closed, it lets the queue go.
    await first.close()
    const next = createWebhookReceiver({ provider: 'pocketbook', secret: SECRET, inbox: new QueuedInbox(queue), ...handlers })
    await next.close()
  })

  it('lets instances of one receiver, and workers of its provider, share a queue; a receiver without handlers consumes nothing', async () => {
    const queue = `queue ${Math.random()}`
    const instances = [1, 2].map(() => createWebhookReceiver({ secret: SECRET, inbox: new QueuedInbox(queue), ...handlers }))
    const worker = startInboxWorker({ inbox: new QueuedInbox(queue), ...handlers })
    const recordsOnly = createWebhookReceiver({ provider: 'pocketbook', secret: SECRET, inbox: new QueuedInbox(queue), logger: false })
    await Promise.all([...instances.map((r) => r.close()), worker.close(), recordsOnly.close()])
  })
})

describe('receiver with an inbox', () => {
  it('records before the 200, hands no after() to the adapter, and answers duplicates', async () => {
    const inbox = new FakeInbox()
    const runs: string[] = []
    const r = createWebhookReceiver({ secret: SECRET, logger: false, inbox, on: { 'order.completed': (e) => void runs.push(e.id) } })
    const req = await delivery()
    const first = await r.handle(req)
    expect(first.response).toMatchObject({ status: 200, body: '{"received":true}' })
    expect(first.after).toBeUndefined()
    expect(inbox.events.size).toBe(1)
    expect(runs).toEqual([])
    const again = await r.handle(req)
    expect(again.response.body).toBe('{"received":true,"duplicate":true}')
    // The worker side: the receiver started the inbox with its handlers.
    expect(inbox.processor?.maxAttempts).toBe(3)
    expect(await inbox.run(first.event?.id as string)).toEqual({ ok: true })
    expect(runs).toEqual([first.event?.id])
  })

  it('answers 503 when recording fails or takes longer than storeTimeoutMs, and never acknowledges', async () => {
    const inbox = new FakeInbox()
    const r = createWebhookReceiver({ secret: SECRET, logger: false, inbox, storeTimeoutMs: 50 })
    inbox.recordImpl = () => Promise.reject(new Error('connection refused'))
    expect((await r.handle(await delivery())).response).toMatchObject({ status: 503, headers: { 'retry-after': '5' } })
    inbox.recordImpl = () => new Promise(() => {})
    const started = Date.now()
    expect((await r.handle(await delivery())).response.status).toBe(503)
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('does not start workers without handlers: a web process that only records', async () => {
    const inbox = new FakeInbox()
    const r = createWebhookReceiver({ secret: SECRET, logger: false, inbox })
    expect((await r.handle(await delivery())).response.status).toBe(200)
    expect(inbox.processor).toBeUndefined()
  })

  it('refuses a dedupe store next to an inbox, and things that are not inboxes', () => {
    expect(() => createWebhookReceiver({ secret: SECRET, inbox: new FakeInbox(), dedupe: false })).toThrow(/dedupes events itself/)
    expect(() => createWebhookReceiver({ secret: SECRET, inbox: {} as WebhookInbox })).toThrow(/must be an inbox/)
  })

  it('close() stops accepting, then closes the inbox with the same time limit', async () => {
    const inbox = new FakeInbox()
    const r = createWebhookReceiver({ secret: SECRET, logger: false, inbox })
    await r.close({ timeoutMs: 1234 })
    expect(inbox.closedWith).toEqual({ timeoutMs: 1234 })
    expect((await r.handle(await delivery())).response.status).toBe(503)
  })

  it('survives an inbox whose start() fails: records still decide the answer', async () => {
    const inbox = new FakeInbox()
    inbox.start = () => Promise.reject(new Error('database down at boot'))
    const errors: string[] = []
    const logger = { debug() {}, info() {}, warn() {}, error: (_o: object, msg?: string) => void errors.push(msg ?? '') }
    const r = createWebhookReceiver({ secret: SECRET, logger, inbox, onEvent: () => {} })
    expect((await r.handle(await delivery())).response.status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(errors).toContain('the inbox failed to start its workers')
  })
})

describe('inbox processor (one attempt per call)', () => {
  function setup(on: Record<string, (e: WebhookEvent, ctx: { attempt: number; signal: AbortSignal }) => unknown>, extra = {}) {
    const inbox = new FakeInbox()
    const errors: WebhookHandlerError[] = []
    const r = createWebhookReceiver({
      secret: SECRET,
      logger: false,
      inbox,
      on: on as never,
      retry: { maxAttempts: 3, minDelayMs: 100, maxDelayMs: 1000, jitter: false },
      onError: (error) => void errors.push(error),
      ...extra,
    })
    return { inbox, r, errors }
  }

  it('reports failure with a backoff until the last attempt, then calls onError once', async () => {
    let calls = 0
    const { inbox, r, errors } = setup({ 'order.completed': () => Promise.reject(new Error(`boom ${++calls}`)) })
    const id = (await r.handle(await delivery())).event?.id as string
    expect(await inbox.run(id, { attempt: 1 })).toMatchObject({ ok: false, final: false, retryInMs: 100, interrupted: false })
    expect(await inbox.run(id, { attempt: 2 })).toMatchObject({ ok: false, final: false, retryInMs: 200 })
    expect(errors).toHaveLength(0)
    const last = await inbox.run(id, { attempt: 3 })
    expect(last).toMatchObject({ ok: false, final: true, failed: ['order.completed'], completed: [] })
    expect(String((last as { error: Error }).error.message)).toBe('boom 3')
    // Reported only once the inbox has stored the dead letter.
    expect(errors).toHaveLength(0)
    if (!last.ok) last.report()
    expect(errors).toHaveLength(1)
    expect(errors[0]?.attempts).toBe(3)
    expect(errors[0]?.event.id).toBe(id)
  })

  it('skips handlers an earlier attempt completed, and records completions while others remain', async () => {
    const runs: string[] = []
    let typedFails = true
    const { inbox, r } = setup({}, {
      on: { 'order.completed': () => (runs.push('typed'), typedFails ? Promise.reject(new Error('x')) : undefined) },
      onEvent: () => void runs.push('onEvent'),
    })
    const id = (await r.handle(await delivery())).event?.id as string
    const marked: string[] = []
    const markCompleted = async (name: string) => void marked.push(name)
    // The typed handler fails; the catch-all still runs (each handler is on its own).
    expect((await inbox.run(id, { attempt: 1, markCompleted })).ok).toBe(false)
    expect(runs).toEqual(['typed', 'onEvent'])
    // onEvent succeeded though the typed handler failed: recorded, or every retry would run it again.
    expect(marked).toEqual(['onEvent'])
    typedFails = false
    runs.length = 0
    expect(await inbox.run(id, { attempt: 2, completed: ['onEvent'], markCompleted })).toEqual({ ok: true })
    expect(runs).toEqual(['typed'])
    // The success that completes the event is not written on its own: the inbox marks the event done.
    expect(marked).toEqual(['onEvent'])
    runs.length = 0
    expect(await inbox.run(id, { attempt: 1, completed: [], markCompleted })).toEqual({ ok: true })
    expect(marked).toEqual(['onEvent', 'order.completed'])
  })

  it('deadLettered() reaches onError for events an inbox gave up on outside an attempt', async () => {
    const { inbox, r, errors } = setup({ 'order.completed': () => {} })
    const event = (await r.handle(await delivery())).event as WebhookEvent
    inbox.processor?.deadLettered(event, 3, new Error('the process died during attempt 3'))
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ handler: 'inbox', attempts: 3, event: { id: event.id } })
    expect(errors[0]?.message).toContain('the process died during attempt 3')
  })

  it('passes the attempt number, and aborts the handler when the inbox signal aborts', async () => {
    const seen: number[] = []
    const { inbox, r } = setup({
      'order.completed': (_e, ctx) =>
        new Promise((_, reject) => {
          seen.push(ctx.attempt)
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))
        }),
    })
    const id = (await r.handle(await delivery())).event?.id as string
    const controller = new AbortController()
    const running = inbox.run(id, { attempt: 2, signal: controller.signal })
    controller.abort(new Error('lease lost'))
    expect(await running).toMatchObject({ ok: false, error: new Error('lease lost'), interrupted: true, final: false })
    expect(seen).toEqual([2])
    // Already aborted: the handler does not start.
    expect(await inbox.run(id, { attempt: 2, signal: controller.signal })).toMatchObject({ ok: false, interrupted: true })
    expect(seen).toEqual([2])
  })

  it('an interrupted last attempt is not final: no onError, the inbox gives the event back', async () => {
    const { inbox, r, errors } = setup({
      'order.completed': (_e, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
    })
    const id = (await r.handle(await delivery())).event?.id as string
    const controller = new AbortController()
    const running = inbox.run(id, { attempt: 3, signal: controller.signal })
    controller.abort(new Error('closing'))
    expect(await running).toMatchObject({ ok: false, final: false, interrupted: true })
    expect(errors).toEqual([])
  })

  it('enforces the per-attempt time limit', async () => {
    const { inbox, r } = setup(
      { 'order.completed': (_e, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))) },
      { handlerTimeoutMs: 30 },
    )
    const id = (await r.handle(await delivery())).event?.id as string
    expect(inbox.processor?.attemptTimeoutMs).toBe(30)
    const outcome = await inbox.run(id, { attempt: 1 })
    expect(outcome).toMatchObject({ ok: false, final: false })
    expect((outcome as { error: Error }).error.name).toBe('WebhookHandlerTimeoutError')
  })

  it('an attempt whose handler ignores its signal ends when the handler does, so no retry overlaps it', async () => {
    let finish: (() => void) | undefined
    const failed = vi.fn()
    const { inbox, r } = setup(
      { 'order.completed': () => new Promise<void>((resolve) => (finish = resolve)) },
      { handlerTimeoutMs: 20, hooks: { failed } },
    )
    const id = (await r.handle(await delivery())).event?.id as string
    let settled = false
    const running = inbox.run(id, { attempt: 1 }).finally(() => (settled = true))
    await new Promise((resolve) => setTimeout(resolve, 80))
    // Past its limit: reported once as a timeout, but the attempt (and the inbox's claim) goes on.
    expect(failed).toHaveBeenCalledOnce()
    expect(failed.mock.calls[0]?.[0]).toBeInstanceOf(WebhookHandlerTimeoutError)
    expect(settled).toBe(false)
    finish?.()
    // It did its work after all: a success, not run again.
    expect(await running).toEqual({ ok: true })
    expect(failed).toHaveBeenCalledOnce()
  })
})

describe('startInboxWorker (a separate worker process)', () => {
  it('starts the inbox with the handlers, maps aliases, and closes it', async () => {
    const inbox = new FakeInbox()
    const web = createWebhookReceiver({ secret: SECRET, logger: false, inbox })
    const id = (await web.handle(await delivery('customer.subscription.pause'))).event?.id as string
    const runs: string[] = []
    const worker = startInboxWorker({ inbox, logger: false, on: { 'customer.subscription.pause': (e) => void runs.push(e.type) } })
    expect(await inbox.run(id)).toEqual({ ok: true })
    expect(runs).toEqual(['customer.subscription.paused'])
    await worker.close({ timeoutMs: 10 })
    expect(inbox.closedWith).toEqual({ timeoutMs: 10 })
  })

  it('needs an inbox and handlers', () => {
    expect(() => startInboxWorker({ inbox: undefined as never, onEvent: () => {} })).toThrow(/needs/)
    expect(() => startInboxWorker({ inbox: new FakeInbox() })).toThrow(/needs handlers/)
  })
})

describe('serializeEvent / parseEvent', () => {
  it('round-trips events of every provider, with data tied to the payload as it was', async () => {
    for (const provider of ['pocketsflow', 'pocketbook', 'standard-webhooks'] as const) {
      const secret = provider === 'standard-webhooks' ? 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' : SECRET
      const req = await signedRequest({ secret, provider, type: provider === 'pocketbook' ? 'payment.succeeded' : 'order.completed' })
      const result = await verifyWebhook({ secret, provider, headers: req.headers, body: req.body })
      if (!result.ok) throw new Error(result.reason)
      const back = parseEvent(serializeEvent(result.event))
      expect(back).toEqual(result.event)
      expect(back.data === back.payload).toBe(result.event.data === result.event.payload)
    }
  })

  it('round-trips any JSON payload and keeps __proto__ keys out', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string(), fc.option(fc.integer({ min: 0, max: 4e12 }), { nil: undefined }), (payload, id, ts) => {
        const event = {
          id: id || 'x',
          type: 'order.completed',
          deliveredType: 'order.completed',
          data: payload,
          payload,
          provider: 'pocketsflow' as const,
          timestamp: ts === undefined ? undefined : new Date(ts),
          testMode: false,
          verification: { secretIndex: 0, signedContent: 'body' },
        }
        const back = parseEvent(serializeEvent(event))
        expect(back.id).toBe(event.id)
        expect(back.timestamp?.getTime()).toBe(ts)
        // What the verifier would have kept: the same value without prototype-pollution keys.
        const safe = JSON.parse(JSON.stringify(payload), (key, value: unknown) =>
          key === '__proto__' || (key === 'constructor' && value !== null && typeof value === 'object' && Object.hasOwn(value, 'prototype'))
            ? undefined
            : value,
        )
        expect(JSON.stringify(back.payload)).toBe(JSON.stringify(safe))
      }),
    )
    const hostile = parseEvent('{"v":1,"id":"a","type":"t","payload":{"__proto__":{"polluted":true}},"dataFrom":"payload"}')
    expect(Object.hasOwn(hostile.payload as object, '__proto__')).toBe(false)
  })

  it('refuses text it did not write', () => {
    expect(() => parseEvent('{"id":"a"}')).toThrow(TypeError)
    expect(() => parseEvent('not json')).toThrow(TypeError)
    expect(() => parseEvent('null')).toThrow(TypeError)
  })
})
