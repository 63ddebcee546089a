import { describe, expect, it, vi } from 'vitest'
import {
  createWebhookReceiver,
  MemoryDedupeStore,
  signWebhook,
  WebhookHandlerError,
  WebhookHandlerTimeoutError,
  WebhookReceiverClosedError,
  type CheckedHeaders,
  type DedupeStore,
  type Logger,
  type ReceiverResult,
  type WebhookReceiverOptions,
} from '../src/index.js'

const SECRET = 'whsec_receiver_test_secret_0123456789'
const fast = { minDelayMs: 1, maxDelayMs: 5 }

async function delivery(type: string, data: Record<string, unknown> = {}, extra: { secret?: string; timestamp?: number } = {}) {
  const body = JSON.stringify({ event: type, customer: { email: 'jane@example.com' }, ...data })
  const headers = await signWebhook({ secret: extra.secret ?? SECRET, body, type, ...(extra.timestamp ? { timestamp: extra.timestamp } : {}) })
  return { method: 'POST', headers, body: Buffer.from(body) }
}

function recordingLogger() {
  const lines: unknown[] = []
  const log = (level: string) => (obj: object, msg?: string) => lines.push({ level, obj, msg })
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') }
  return { logger, lines, text: () => JSON.stringify(lines, (_k, v) => (v instanceof Error ? { message: v.message } : v)) }
}

function receiver(options: Partial<WebhookReceiverOptions> = {}) {
  return createWebhookReceiver({ secret: SECRET, logger: false, retry: fast, ...options })
}

describe('createWebhookReceiver', () => {
  it('logs the mismatchHint of a rebuilt body that does not verify, and only for a signature mismatch', async () => {
    const { logger, lines } = recordingLogger()
    const r = receiver({ logger })
    const hint = 'rebuilt from a parser\'s text: mount the webhook first'
    const signed = await delivery('order.completed')
    const altered = { ...signed, body: Buffer.from(`${signed.body.toString()} `), mismatchHint: hint }
    expect((await r.handle(altered)).response.status).toBe(401)
    expect(lines.at(-1)).toMatchObject({ level: 'warn', obj: { reason: 'signature_mismatch', hint } })
    const stale = await delivery('order.completed', {}, { timestamp: Date.now() - 3_600_000 })
    expect((await r.handle({ ...stale, mismatchHint: hint })).reason).toBe('timestamp_too_old')
    expect((lines.at(-1) as { obj: { hint?: string } }).obj.hint).not.toBe(hint)
    expect((await r.handle({ ...signed, mismatchHint: hint })).response.status).toBe(200)
  })

  it('acknowledges with 200 before any handler code runs, and runs it in after()', async () => {
    const calls: string[] = []
    const r = receiver({ on: { 'order.completed': async (event) => void calls.push(event.data.customer.email) } })
    const result = await r.handle(await delivery('order.completed'))
    expect(result.response).toMatchObject({ status: 200, body: '{"received":true}' })
    expect(result.event?.type).toBe('order.completed')
    expect(calls).toEqual([])
    await result.after?.()
    expect(calls).toEqual(['jane@example.com'])
  })

  it('answers every status from one table', async () => {
    const r = receiver()
    const ok = await delivery('order.completed')
    expect((await r.handle({ ...ok, method: 'GET' })).response).toMatchObject({ status: 405, headers: { allow: 'POST' } })
    expect((await r.handle({ ...ok, headers: { ...ok.headers, 'X-Pocketsflow-Signature': 'ab'.repeat(32) } })).response.status).toBe(401)
    const stale = await delivery('order.completed', {}, { timestamp: Date.now() - 10 * 60_000 })
    expect((await r.handle(stale)).response.status).toBe(401)
    const malformed = '{"event":'
    const headers = await signWebhook({ secret: SECRET, body: malformed, type: 'order.completed' })
    expect((await r.handle({ method: 'POST', headers, body: malformed })).response.status).toBe(400)
    const big = createWebhookReceiver({ secret: SECRET, logger: false, bodyLimit: 10 })
    expect((await big.handle(ok)).response.status).toBe(413)
    expect(r.reject('body_too_large').response.status).toBe(413)
    expect(r.reject('configuration_error', 'mount it first').response.status).toBe(500)
    expect(r.reject('body_unreadable').response.status).toBe(400)
  })

  it('never puts the precise reason in the response', async () => {
    const r = receiver()
    const ok = await delivery('order.completed')
    const result = await r.handle({ ...ok, headers: {} })
    expect(result.reason).toBe('missing_signature')
    expect(result.response.body).toBe('{"error":"invalid signature"}')
  })

  it('acknowledges duplicates with 200 and does not run handlers again', async () => {
    const handler = vi.fn()
    const r = receiver({ on: { 'order.completed': handler } })
    const d = await delivery('order.completed')
    const first = await r.handle(d)
    await first.after?.()
    const second = await r.handle(d)
    expect(second.response).toMatchObject({ status: 200, body: '{"received":true,"duplicate":true}' })
    expect(second.after).toBeUndefined()
    expect(handler).toHaveBeenCalledTimes(1)
  })

  it('runs the handler once for 50 concurrent identical deliveries', async () => {
    const handler = vi.fn(async () => {
      await new Promise((resolve) => setTimeout(resolve, 5))
    })
    const r = receiver({ on: { 'order.completed': handler } })
    const d = await delivery('order.completed')
    const results = await Promise.all(Array.from({ length: 50 }, () => r.handle(d)))
    await Promise.all(results.map((x) => x.after?.()))
    expect(results.every((x) => x.response.status === 200)).toBe(true)
    expect(results.filter((x) => x.after).length).toBe(1)
    expect(handler).toHaveBeenCalledTimes(1)
  })

  it('routes pause and paused to the same handler, whichever key was registered', async () => {
    for (const key of ['customer.subscription.pause', 'customer.subscription.paused'] as const) {
      const seen: string[] = []
      const r = receiver({ on: { [key]: (event: { deliveredType: string }) => void seen.push(event.deliveredType) } })
      for (const spelling of ['customer.subscription.pause', 'customer.subscription.paused']) {
        const result = await r.handle(await delivery(spelling, { id: spelling + key }))
        await result.after?.()
      }
      expect(seen).toEqual(['customer.subscription.pause', 'customer.subscription.paused'])
    }
    expect(() =>
      receiver({ on: { 'customer.subscription.pause': () => {}, 'customer.subscription.paused': () => {} } }),
    ).toThrow(/same event/)
  })

  it('runs the typed handler, then the catch-all, which also sees unknown types', async () => {
    const order: string[] = []
    const r = receiver({
      on: { 'order.completed': () => void order.push('typed') },
      onEvent: (event) => void order.push(`all:${event.type}`),
    })
    await (await r.handle(await delivery('order.completed'))).after?.()
    await (await r.handle(await delivery('payout.sent'))).after?.()
    expect(order).toEqual(['typed', 'all:order.completed', 'all:payout.sent'])
  })

  it('retries a failing handler with backoff, without re-running handlers that succeeded', async () => {
    let typedCalls = 0
    let catchAllCalls = 0
    const handled = vi.fn()
    const failed = vi.fn()
    const r = receiver({
      retry: { maxAttempts: 4, minDelayMs: 1, maxDelayMs: 2 },
      on: { 'order.completed': () => void typedCalls++ },
      onEvent: (_event, ctx) => {
        catchAllCalls++
        if (ctx.attempt < 3) throw new Error(`flaky ${ctx.attempt}`)
      },
      hooks: { handled, failed },
    })
    await (await r.handle(await delivery('order.completed'))).after?.()
    expect(typedCalls).toBe(1)
    expect(catchAllCalls).toBe(3)
    expect(failed).toHaveBeenCalledTimes(2)
    expect(failed.mock.calls[0]?.[2]).toEqual({ handler: 'onEvent', attempt: 1, willRetry: true })
    expect(handled).toHaveBeenCalledWith(expect.objectContaining({ type: 'order.completed' }), expect.objectContaining({ attempts: 3 }))
  })

  it('after the last attempt, calls onError with the event and releases it so a re-send is processed', async () => {
    const onError = vi.fn()
    let calls = 0
    const r = receiver({
      retry: { maxAttempts: 2, minDelayMs: 1, maxDelayMs: 1 },
      on: {
        'order.completed': () => {
          calls++
          throw new Error('database down')
        },
      },
      onError,
    })
    const d = await delivery('order.completed')
    await (await r.handle(d)).after?.()
    expect(calls).toBe(2)
    expect(onError).toHaveBeenCalledTimes(1)
    const [error, event] = onError.mock.calls[0] as [WebhookHandlerError, { type: string }]
    expect(error).toBeInstanceOf(WebhookHandlerError)
    expect(error.attempts).toBe(2)
    expect(error.handler).toBe('order.completed')
    expect((error.cause as Error).message).toBe('database down')
    expect(error.event).toBe(event)
    // Not left marked as processed: the same delivery again is handled again.
    const again = await r.handle(d)
    expect(again.after).toBeTypeOf('function')
    await again.after?.()
    expect(calls).toBe(4)
  })

  it('gives each attempt a time limit and aborts its signal', async () => {
    const signals: AbortSignal[] = []
    const onError = vi.fn()
    const r = receiver({
      retry: false,
      handlerTimeoutMs: 20,
      on: {
        'order.completed': (_event, ctx) => {
          signals.push(ctx.signal)
          return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))
        },
      },
      onError,
    })
    await (await r.handle(await delivery('order.completed'))).after?.()
    expect(signals[0]?.aborted).toBe(true)
    expect(signals[0]?.reason).toBeInstanceOf(WebhookHandlerTimeoutError)
    expect((onError.mock.calls[0]?.[0] as WebhookHandlerError).cause).toBeInstanceOf(WebhookHandlerTimeoutError)
  })

  it('survives handlers and hooks that throw anything, including non-errors', async () => {
    const r = receiver({
      retry: false,
      on: { 'order.completed': () => Promise.reject(undefined) },
      onError: () => {
        throw new Error('hook broke')
      },
      hooks: {
        accepted: () => {
          throw 'nope'
        },
        rejected: () => {
          throw new Error('x')
        },
      },
    })
    const result = await r.handle(await delivery('order.completed'))
    expect(result.response.status).toBe(200)
    await expect(result.after?.()).resolves.toBeUndefined()
    expect((await r.handle({ method: 'POST', headers: {}, body: '' })).response.status).toBe(401)
  })

  it('answers 503 and runs nothing when the dedupe store is unavailable', async () => {
    const handler = vi.fn()
    const broken: DedupeStore = {
      claim: () => Promise.reject(new Error('ECONNREFUSED')),
      complete: () => {},
      release: () => {},
    }
    const r = receiver({ dedupe: broken, on: { 'order.completed': handler } })
    const result = await r.handle(await delivery('order.completed'))
    expect(result.response).toMatchObject({ status: 503, headers: { 'retry-after': '5' } })
    expect(result.after).toBeUndefined()
    expect(handler).not.toHaveBeenCalled()
  })

  it('marks an event done only after its handlers succeeded', async () => {
    const calls: string[] = []
    const store: DedupeStore = {
      claim: (key) => {
        calls.push(`claim:${key.length}`)
        return true
      },
      complete: () => void calls.push('complete'),
      release: () => void calls.push('release'),
    }
    const r = receiver({ dedupe: store, on: { 'order.completed': () => void calls.push('handler') } })
    await (await r.handle(await delivery('order.completed'))).after?.()
    expect(calls).toEqual(['claim:64', 'handler', 'complete'])
  })

  it('uses a custom idempotency key, and falls back to the default if it throws', async () => {
    const handler = vi.fn()
    const r = receiver({
      idempotencyKey: (event) => (event.data as { order: { id: string } }).order.id,
      on: { 'order.completed': handler },
    })
    const a = await r.handle(await delivery('order.completed', { order: { id: 'order_9' }, note: 'a' }))
    expect(a.event?.id).toBe('order_9')
    const b = await r.handle(await delivery('order.completed', { order: { id: 'order_9' }, note: 'b' }))
    expect(b.response.body).toContain('duplicate')
    const c = await r.handle(await delivery('order.completed', { note: 'no order object' }))
    expect(c.response.status).toBe(200)
    expect(c.event?.id).toMatch(/^[0-9a-f]{64}$/)
  })

  it('can run without dedupe', async () => {
    const handler = vi.fn()
    const r = receiver({ dedupe: false, on: { 'order.completed': handler } })
    const d = await delivery('order.completed')
    await (await r.handle(d)).after?.()
    await (await r.handle(d)).after?.()
    expect(handler).toHaveBeenCalledTimes(2)
  })

  it('prechecks method, shutdown and headers without a body', async () => {
    const r = receiver()
    const d = await delivery('order.completed')
    expect(r.precheck({ method: 'POST', headers: d.headers }).rejected).toBeUndefined()
    expect(r.precheck({ method: 'POST', headers: {} }).rejected?.response.status).toBe(401)
    expect(r.precheck({ method: 'PUT', headers: d.headers }).rejected?.response.status).toBe(405)
    const stale = await delivery('order.completed', {}, { timestamp: 1 })
    expect(r.precheck({ method: 'POST', headers: stale.headers }).rejected?.reason).toBe('timestamp_too_old')
  })

  it('hands what precheck() checked to handle(), which then verifies the body against those headers', async () => {
    const r = receiver()
    const first = await delivery('order.completed')
    const checked = r.precheck({ method: 'POST', headers: first.headers })
    expect(checked.rejected).toBeUndefined()
    expect((await r.handle({ ...first, checked: checked as CheckedHeaders })).response.status).toBe(200)
    // Nothing of ours is written on the caller's headers (they may be logged).
    expect(Object.getOwnPropertySymbols(first.headers)).toEqual([])
    // The body is still verified against the checked headers: another body is refused.
    const second = await delivery('order.completed', { n: 2 })
    expect((await r.handle({ ...second, checked: checked as CheckedHeaders })).response.status).toBe(401)
    // Another receiver's check is not taken on trust: it reads the headers itself.
    const other = receiver({ tolerance: 1 })
    const stale = await delivery('order.completed', {}, { timestamp: Date.now() - 60_000 })
    const lenient = r.precheck({ method: 'POST', headers: stale.headers })
    expect(lenient.rejected).toBeUndefined()
    expect((await other.handle({ ...stale, checked: lenient as CheckedHeaders })).reason).toBe('timestamp_too_old')
    // Nor is a look-alike object.
    const forged = { signed: { signatures: [] } } as unknown as CheckedHeaders
    expect((await r.handle({ ...(await delivery('order.completed')), headers: {}, checked: forged })).response.status).toBe(401)
  })

  it('verify(): the answers of handle() for an authentic or a refused delivery, with nothing claimed and no handler run', async () => {
    const handler = vi.fn()
    const r = receiver({ on: { 'order.completed': handler } })
    const d = await delivery('order.completed')
    const verified = await r.verify(d)
    expect(verified).toMatchObject({ response: { status: 200 }, event: { type: 'order.completed' } })
    expect(verified.after).toBeUndefined()
    expect((await r.verify({ ...d, body: Buffer.from(`${d.body.toString()} `) })).response.status).toBe(401)
    expect((await r.verify({ ...d, method: 'GET' })).response.status).toBe(405)
    // Nothing was claimed: the delivery itself is new to handle(), and its event has the same id.
    const handled = await r.handle(d)
    expect(handled.response.body).toBe('{"received":true}')
    expect(handled.event?.id).toBe(verified.event?.id)
    await handled.after?.()
    expect(handler).toHaveBeenCalledTimes(1)
    expect(r.stats()).toMatchObject({ running: 0, waiting: 0 })
    await r.close()
    expect((await r.verify(d)).response.status).toBe(503)
  })

  it('matches its path with or without a query string or trailing slash', () => {
    const r = receiver({ path: '/hooks/pf' })
    expect(r.matchesPath('/hooks/pf')).toBe(true)
    expect(r.matchesPath('/hooks/pf/')).toBe(true)
    expect(r.matchesPath('/hooks/pf?x=1')).toBe(true)
    expect(r.matchesPath('/hooks/pfx')).toBe(false)
    expect(r.matchesPath('/hooks')).toBe(false)
    expect(r.matchesPath(undefined)).toBe(false)
    expect(receiver().path).toBe('/webhooks/pocketsflow')
    expect(() => receiver({ path: 'no-slash' })).toThrow(/path/)
  })

  it('close() answers 503 from then on and waits for in-flight handlers', async () => {
    let finish: () => void = () => {}
    const done = vi.fn()
    const r = receiver({
      on: {
        'order.completed': async () => {
          await new Promise<void>((resolve) => (finish = resolve))
          done()
        },
      },
    })
    const result = await r.handle(await delivery('order.completed'))
    const running = result.after?.()
    let closed = false
    const closing = r.close().then(() => (closed = true))
    expect((await r.handle(await delivery('order.completed', { n: 2 }))).response.status).toBe(503)
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(closed).toBe(false)
    finish()
    await closing
    await running
    expect(done).toHaveBeenCalled()
  })

  it('close({ timeoutMs }) abandons stuck handlers, reports them to onError and releases them', async () => {
    const onError = vi.fn()
    const released = vi.fn()
    const store = new MemoryDedupeStore()
    const r = receiver({
      dedupe: { claim: (k) => store.claim(k), complete: (k) => store.complete(k), release: (k) => (released(k), store.release(k)) },
      retry: { maxAttempts: 5, minDelayMs: 1, maxDelayMs: 1 },
      on: { 'order.completed': (_e, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))) },
      onError,
    })
    const result = await r.handle(await delivery('order.completed'))
    void result.after?.()
    await r.close({ timeoutMs: 20 })
    expect(onError).toHaveBeenCalledTimes(1)
    expect((onError.mock.calls[0]?.[0] as WebhookHandlerError).cause).toBeInstanceOf(WebhookReceiverClosedError)
    expect(released).toHaveBeenCalledWith(result.event?.id)
  })

  it('reports accepted, duplicate and rejected to hooks', async () => {
    const accepted = vi.fn()
    const duplicate = vi.fn()
    const rejected = vi.fn()
    const r = receiver({ hooks: { accepted, duplicate, rejected } })
    const d = await delivery('order.completed')
    await (await r.handle(d)).after?.()
    await r.handle(d)
    await r.handle({ ...d, headers: {} })
    expect(accepted).toHaveBeenCalledTimes(1)
    expect(duplicate).toHaveBeenCalledTimes(1)
    expect(rejected).toHaveBeenCalledWith({ reason: 'missing_signature', status: 401, provider: 'pocketsflow' })
  })

  it('logs why a delivery was rejected, with the skew, but never the secret or the signature', async () => {
    const { logger, text } = recordingLogger()
    const r = createWebhookReceiver({ secret: SECRET, logger, retry: false, on: { 'order.completed': () => Promise.reject(new Error('boom')) } })
    const stale = await delivery('order.completed', {}, { timestamp: Date.now() - 3_600_000 })
    await r.handle(stale)
    const ok = await delivery('order.completed')
    await r.handle({ ...ok, headers: { ...ok.headers, 'X-Pocketsflow-Signature': 'ab'.repeat(32) } })
    await (await r.handle(ok)).after?.()
    const logged = text()
    expect(logged).toContain('timestamp_too_old')
    expect(logged).toMatch(/"skewSeconds":3600/)
    expect(logged).toContain('signature_mismatch')
    expect(logged).toContain('webhook handling failed for good')
    expect(logged).not.toContain(SECRET)
    expect(logged).not.toContain(stale.headers['X-Pocketsflow-Signature'])
    expect(logged).not.toContain(ok.headers['X-Pocketsflow-Signature'])
    expect(logged).not.toContain('ab'.repeat(32))
  })

  it('warns about handler keys that are not known event types', () => {
    const { logger, text } = recordingLogger()
    createWebhookReceiver({ secret: SECRET, logger, on: { 'order.complete': () => {} } as never })
    expect(text()).toContain('order.complete')
  })

  it('rejects bad configuration at construction', () => {
    expect(() => createWebhookReceiver({ secret: '' })).toThrow(/empty/)
    expect(() => createWebhookReceiver({ secret: undefined })).toThrow(/POCKETSFLOW_WEBHOOK_SECRET/)
    expect(() => receiver({ on: { 'order.completed': 'nope' as never } })).toThrow(/function/)
    expect(() => receiver({ retry: { maxAttempts: 0 } })).toThrow(/maxAttempts/)
    expect(() => receiver({ bodyLimit: -1 })).toThrow(/bodyLimit/)
    expect(() => receiver({ handlerTimeoutMs: 0 })).toThrow(/handlerTimeoutMs/)
  })
})

describe('answers without a promise while every step is synchronous', () => {
  it('handleNow() returns the result itself with node:crypto and the in-memory store, and after() runs sync handlers before it returns', async () => {
    const handled: string[] = []
    const r = receiver({ on: { 'order.completed': (event) => void handled.push(event.id) } })
    const d = await delivery('order.completed')
    const first = r.handleNow(d)
    expect(first).not.toBeInstanceOf(Promise)
    const { response, after } = first as ReceiverResult
    expect(response.status).toBe(200)
    const done = after?.()
    expect(handled).toHaveLength(1)
    await expect(done).resolves.toBeUndefined()
    // A second call of after() does nothing.
    await after?.()
    expect(handled).toHaveLength(1)
    // Duplicates and rejections are synchronous too.
    const again = r.handleNow(d) as ReceiverResult
    expect(again.response.body).toContain('duplicate')
    expect((r.handleNow({ ...d, headers: {} }) as ReceiverResult).response.status).toBe(401)
    // Nothing is left pending: close() has nothing to wait for.
    await r.close({ timeoutMs: 1000 })
    expect((r.handleNow(d) as ReceiverResult).response.status).toBe(503)
  })

  it('switches to a promise at the first step that is not synchronous, with the same outcome', async () => {
    const calls: string[] = []
    const store: DedupeStore = {
      claim: async () => (calls.push('claim'), true),
      complete: async () => void calls.push('complete'),
      release: async () => void calls.push('release'),
    }
    const r = receiver({ dedupe: store, on: { 'order.completed': async () => void calls.push('handler') } })
    const pending = r.handleNow(await delivery('order.completed'))
    expect(pending).toBeInstanceOf(Promise)
    const result = await pending
    expect(result.response.status).toBe(200)
    const done = result.after?.()
    // The handler's promise has not been waited for yet, so the event is not completed.
    expect(calls).toEqual(['claim', 'handler'])
    await done
    expect(calls).toEqual(['claim', 'handler', 'complete'])
  })

  it('completes the key it claimed, whatever a hook does to the event afterwards', async () => {
    const calls: string[] = []
    const store: DedupeStore = {
      claim: (key) => (calls.push(`claim ${key}`), true),
      complete: (key) => void calls.push(`complete ${key}`),
      release: (key) => void calls.push(`release ${key}`),
    }
    const r = receiver({
      dedupe: store,
      idempotencyKey: () => 'evt_1',
      hooks: { accepted: (event) => void ((event as { id: string }).id = 'changed') },
      on: { 'order.completed': () => {} },
    })
    await (r.handleNow(await delivery('order.completed')) as ReceiverResult).after?.()
    expect(calls).toEqual(['claim evt_1', 'complete evt_1'])
  })

  it('a handler that fails synchronously is retried asynchronously, and released after its last attempt', async () => {
    const store = new MemoryDedupeStore()
    let calls = 0
    const onError = vi.fn()
    const r = receiver({ dedupe: store, retry: { maxAttempts: 2, minDelayMs: 1, maxDelayMs: 1 }, onError, on: { 'order.completed': () => {
      calls++
      throw new Error('nope')
    } } })
    const d = await delivery('order.completed')
    const result = r.handleNow(d) as ReceiverResult
    const done = result.after?.()
    expect(calls).toBe(1)
    await done
    expect(calls).toBe(2)
    expect(onError).toHaveBeenCalledOnce()
    // Released: a re-send is processed, not answered as a duplicate.
    expect((r.handleNow(d) as ReceiverResult).after).toBeTypeOf('function')
  })

  it("counts a handler's time limit from its start, synchronous part included", async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] })
    try {
      const signals: AbortSignal[] = []
      const r = receiver({
        retry: false,
        handlerTimeoutMs: 1000,
        on: {
          'order.completed': (_event, ctx) => {
            signals.push(ctx.signal)
            // 1.5 s of synchronous work, then a promise that settles when told to stop.
            vi.setSystemTime(Date.now() + 1500)
            return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))
          },
        },
      })
      const d = await delivery('order.completed')
      const done = (r.handleNow(d) as ReceiverResult).after?.()
      await vi.advanceTimersByTimeAsync(1)
      expect(signals[0]?.aborted).toBe(true)
      expect(signals[0]?.reason).toBeInstanceOf(WebhookHandlerTimeoutError)
      await done
    } finally {
      vi.useRealTimers()
    }
  })
})

describe('createWebhookReceiver on Web Crypto (./web)', () => {
  it('runs the same pipeline: 200, after(), dedupe, 401', async () => {
    const web = await import('../src/web.js')
    const handler = vi.fn()
    const r = web.createWebhookReceiver({ secret: SECRET, logger: false, on: { 'order.completed': handler } })
    const d = await delivery('order.completed')
    const answer = r.handleNow({ ...d, headers: new Headers(d.headers), body: new Uint8Array(d.body) })
    // Web Crypto answers with promises: so does the pipeline.
    expect(answer).toBeInstanceOf(Promise)
    const first = await answer
    expect(first.response.status).toBe(200)
    expect(first.event?.id).toMatch(/^[0-9a-f]{64}$/)
    await first.after?.()
    expect(handler).toHaveBeenCalledTimes(1)
    expect((await r.handle(d)).response.body).toContain('duplicate')
    expect((await r.handle({ ...d, body: Buffer.from(`${d.body} `) })).response.status).toBe(401)
  })
})
