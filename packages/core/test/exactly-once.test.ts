// Exactly once, in memory: several handlers per type each recorded on their own, attempts that
// never overlap, dead letters that can be listed and replayed, bounded dispatch, and deliveries
// that are authentic whatever their shape. The durable inboxes have their own tests against the
// real servers; the property at the end checks the rules against an oracle on random schedules.
import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import {
  createWebhookReceiver,
  MemoryDedupeStore,
  signWebhook,
  WebhookHandlerError,
  WebhookHandlerTimeoutError,
  WebhookReceiverClosedError,
  type HandlerContext,
  type Logger,
  type ReceiverResult,
  type WebhookEvent,
  type WebhookReceiverOptions,
  type WebhookRequest,
} from '../src/index.js'

const SECRET = 'whsec_exactly_once_test_secret'
const fast = { minDelayMs: 1, maxDelayMs: 4 }
let counter = 0

/** A signed Pocketsflow delivery; `type: null` sends none (no header, no field). */
async function delivery(type: string | null = 'order.completed', body?: string) {
  const text = body ?? JSON.stringify({ ...(type ? { event: type } : {}), customer: { email: 'jane@example.com' }, n: counter++ })
  return { method: 'POST', headers: await signWebhook({ secret: SECRET, body: text, ...(type ? { type } : {}) }), body: Buffer.from(text) }
}

function receiver(options: Partial<WebhookReceiverOptions> = {}) {
  return createWebhookReceiver({ secret: SECRET, logger: false, retry: fast, ...options })
}

function recordingLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg: string | undefined }[] = []
  const log = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj: obj as Record<string, unknown>, msg })
  const logger: Logger = { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') }
  return { logger, lines }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function deliver(r: ReturnType<typeof receiver>, d: WebhookRequest): Promise<ReceiverResult> {
  const result = await r.handle(d)
  await result.after?.()
  return result
}

describe('several handlers per event type', () => {
  it('runs a list in order, each retried on its own: one that succeeded never runs again', async () => {
    const runs: string[] = []
    let sendFails = 2
    const onError = vi.fn()
    const r = receiver({
      retry: { ...fast, maxAttempts: 4 },
      on: {
        'order.completed': [
          () => void runs.push('grant'),
          () => {
            runs.push('email')
            if (sendFails-- > 0) throw new Error('smtp down')
          },
        ],
      },
      onEvent: [() => void runs.push('audit'), async () => void runs.push('metrics')],
      onError,
    })
    await deliver(r, await delivery())
    expect(runs).toEqual(['grant', 'email', 'audit', 'metrics', 'email', 'email'])
    expect(onError).not.toHaveBeenCalled()
  })

  it('names each handler by its place for onError: the type, then type#2…, onEvent, onEvent#2…', async () => {
    const onError = vi.fn()
    const fail = () => {
      throw new Error('no')
    }
    const r = receiver({ retry: false, on: { 'order.completed': [() => {}, fail] }, onEvent: [fail, fail], onError })
    await deliver(r, await delivery())
    expect(onError.mock.calls.map(([error]) => (error as WebhookHandlerError).handler)).toEqual(['order.completed#2', 'onEvent', 'onEvent#2'])
  })

  it('takes undefined for "none" and refuses what is not a function', () => {
    expect(() => receiver({ on: { 'order.completed': [() => {}, 'x' as never] } })).toThrow(/on\["order.completed"\]\[1\] must be a function/)
    expect(() => receiver({ onEvent: 42 as never })).toThrow(/"onEvent" must be a function or an array/)
    expect(receiver({ on: { 'order.completed': undefined }, onEvent: [] }).stats().running).toBe(0)
  })
})

describe('dead letters in memory', () => {
  it('keeps an event that failed for good, lists it, and replays only its failed handlers', async () => {
    const runs: string[] = []
    let broken = true
    const onError = vi.fn()
    const r = receiver({
      retry: { ...fast, maxAttempts: 2 },
      on: {
        'order.completed': [
          () => void runs.push('grant'),
          () => {
            runs.push('email')
            if (broken) throw new Error('smtp down')
          },
        ],
      },
      onError,
    })
    const result = await deliver(r, await delivery())
    const id = result.event?.id as string
    expect(runs).toEqual(['grant', 'email', 'email'])
    expect(onError).toHaveBeenCalledOnce()
    const letters = await r.deadLetters()
    expect(letters).toHaveLength(1)
    expect(letters[0]).toMatchObject({ id, type: 'order.completed', attempts: 2, lastError: 'smtp down', failedHandlers: ['order.completed#2'], completedHandlers: ['order.completed'] })
    expect(r.stats().deadLetters).toBe(1)

    broken = false
    runs.length = 0
    expect(await r.replay(id)).toBe(true)
    await vi.waitFor(() => expect(runs).toEqual(['email']))
    expect(await r.deadLetters()).toEqual([])
    expect(await r.replay(id)).toBe(false)
    // Done: a re-send now is a duplicate.
    await r.close()
  })

  it('a re-send acknowledged as a duplicate while the first was retrying is not lost: the event stays a dead letter', async () => {
    let calls = 0
    const r = receiver({
      retry: { maxAttempts: 3, minDelayMs: 20, maxDelayMs: 20, jitter: false },
      on: {
        'order.completed': () => {
          calls++
          throw new Error('down')
        },
      },
    })
    const d = await delivery()
    const first = await r.handle(d)
    const running = first.after?.()
    await sleep(5)
    expect((await r.handle(d)).response.body).toBe('{"received":true,"duplicate":true}')
    await running
    expect(calls).toBe(3)
    expect((await r.deadLetters()).map((l) => l.id)).toEqual([first.event?.id])
  })

  it('a re-send of a dead letter runs only the handlers that failed, and settles the letter', async () => {
    const runs: string[] = []
    let broken = true
    const r = receiver({
      retry: false,
      on: { 'order.completed': [() => void runs.push('a'), () => (runs.push('b'), broken ? Promise.reject(new Error('x')) : undefined)] },
    })
    const d = await delivery()
    await deliver(r, d)
    broken = false
    await deliver(r, d)
    expect(runs).toEqual(['a', 'b', 'b'])
    expect(await r.deadLetters()).toEqual([])
    expect((await r.handle(d)).response.body).toContain('duplicate')
  })

  it('a re-send of a dead letter under another type header runs as the type it was first accepted under (found by the fault suite)', async () => {
    const runs: string[] = []
    let broken = true
    const r = receiver({
      retry: false,
      on: {
        'order.completed': [() => void runs.push('completed A'), () => (runs.push('completed B'), broken ? Promise.reject(new Error('x')) : undefined)],
        'order.refunded': () => void runs.push('refunded'),
      },
    })
    // The vendor's shape: the type is only in the (unsigned) header.
    const body = JSON.stringify({ customer: { email: 'a@example.com' }, n: counter++ })
    const as = async (type: string) => ({ method: 'POST', headers: await signWebhook({ secret: SECRET, body, type }), body })
    await deliver(r, await as('order.completed'))
    broken = false
    await deliver(r, await as('order.refunded'))
    expect(runs).toEqual(['completed A', 'completed B', 'completed B'])
  })

  it('keeps the most recent maxDeadLetters, newest first', async () => {
    const r = receiver({ retry: false, maxDeadLetters: 2, onEvent: () => Promise.reject(new Error('no')) })
    const ids: string[] = []
    for (let i = 0; i < 3; i++) ids.push((await deliver(r, await delivery())).event?.id as string)
    expect((await r.deadLetters()).map((l) => l.id)).toEqual([ids[2], ids[1]])
    expect((await r.deadLetters({ limit: 1 })).map((l) => l.id)).toEqual([ids[2]])
    expect(() => receiver({ maxDeadLetters: -1 })).toThrow(/maxDeadLetters/)
  })

  it('tells the deadLettered hook, before onError', async () => {
    const order: string[] = []
    const r = receiver({
      retry: false,
      onEvent: () => Promise.reject(new Error('no')),
      onError: () => void order.push('onError'),
      hooks: { deadLettered: (_event, info) => void order.push(`deadLettered:${info.handlers.join(',')}`) },
    })
    await deliver(r, await delivery())
    expect(order).toEqual(['deadLettered:onEvent', 'onError'])
  })
})

describe('replays race nothing (from review)', () => {
  /** Handlers [A, B]: A succeeds, B fails while `broken.b` is true. */
  function twoHandlers(runs: string[], broken: { b: boolean }, options: Partial<WebhookReceiverOptions> = {}) {
    return receiver({
      retry: false,
      on: {
        'order.completed': [
          () => void runs.push('A'),
          () => {
            runs.push('B')
            if (broken.b) throw new Error('B down')
          },
        ],
      },
      ...options,
    })
  }

  it('a replay between a re-send being acknowledged and its after() finds no letter: A still runs once', async () => {
    const runs: string[] = []
    const broken = { b: true }
    const r = twoHandlers(runs, broken)
    const d = await delivery()
    const id = (await deliver(r, d)).event?.id as string
    broken.b = false
    const resend = await r.handle(d)
    // The re-send holds the claim and took the letter: nothing left to replay.
    expect(await r.replay(id)).toBe(false)
    await resend.after?.()
    expect(runs).toEqual(['A', 'B', 'B'])
  })

  it('a replay from onError (the key not released yet) keeps the letter, and works once it is', async () => {
    const runs: string[] = []
    const broken = { b: true }
    let early: Promise<boolean> | undefined
    const r = twoHandlers(runs, broken, { onError: (error) => void (early = r.replay(error.event.id)) })
    const id = (await deliver(r, await delivery())).event?.id as string
    await expect(early).rejects.toThrow(/is being processed.*dead letter is kept/)
    expect((await r.deadLetters()).map((l) => l.id)).toEqual([id])
    broken.b = false
    expect(await r.replay(id)).toBe(true)
    await vi.waitFor(() => expect(runs).toEqual(['A', 'B', 'B']))
  })

  it("a replay whose claim lands after storeTimeoutMs undoes it: the next replay runs the event", async () => {
    const store = new MemoryDedupeStore()
    let slowNext = false
    const runs: string[] = []
    const broken = { b: true }
    const r = twoHandlers(runs, broken, {
      storeTimeoutMs: 50,
      dedupe: {
        claim: async (key, type) => {
          if (slowNext) {
            slowNext = false
            await sleep(150)
          }
          return store.claim(key, type)
        },
        complete: (key) => store.complete(key),
        release: (key) => store.release(key),
      },
    })
    const id = (await deliver(r, await delivery())).event?.id as string
    broken.b = false
    slowNext = true
    await expect(r.replay(id)).rejects.toThrow(/longer than 50 ms/)
    await sleep(200)
    expect(await r.replay(id)).toBe(true)
    await vi.waitFor(() => expect(runs).toEqual(['A', 'B', 'B']))
  })

  it('a replay in flight when close() is called runs nothing after close() resolved', async () => {
    const store = new MemoryDedupeStore()
    const runs: number[] = []
    const broken = { b: true }
    const r = twoHandlers([], broken, {
      dedupe: { claim: async (key, type) => (await sleep(50), store.claim(key, type)), complete: (k) => store.complete(k), release: (k) => store.release(k) },
      onEvent: () => void runs.push(Date.now()),
    })
    const id = (await deliver(r, await delivery())).event?.id as string
    runs.length = 0
    broken.b = false
    const replaying = r.replay(id).catch((error: unknown) => error)
    await sleep(10)
    await r.close()
    const closedAt = Date.now()
    expect(await replaying).toBeInstanceOf(Error)
    await sleep(60)
    expect(runs.filter((at) => at >= closedAt)).toEqual([])
    expect((await r.deadLetters()).map((l) => l.id)).toEqual([id])
  })
})

describe('a claim that lands after the 503 (from review)', () => {
  it('is processed, not undone: a re-send told "duplicate" in between is not lost', async () => {
    const store = new MemoryDedupeStore()
    let slowNext = true
    const runs: string[] = []
    const r = receiver({
      storeTimeoutMs: 30,
      dedupe: {
        claim: async (key, type) => {
          const slow = slowNext
          slowNext = false
          // The claim is written at once; only its answer is late.
          const result = store.claim(key, type)
          if (slow) await sleep(100)
          return result
        },
        complete: (key) => store.complete(key),
        release: (key) => store.release(key),
      },
      on: { 'order.completed': (event) => void runs.push(event.id) },
    })
    const d = await delivery()
    expect((await r.handle(d)).response.status).toBe(503)
    expect((await r.handle(d)).response.body).toBe('{"received":true,"duplicate":true}')
    await vi.waitFor(() => expect(runs).toHaveLength(1))
    await r.close()
    expect(runs).toHaveLength(1)
  })
})

describe('close() and a claim that lands late (from review)', () => {
  it('close() waits for the answer of a claim that outlived its 503, and the event is processed before close() resolves', async () => {
    const store = new MemoryDedupeStore()
    const runs: string[] = []
    const r = receiver({
      storeTimeoutMs: 20,
      dedupe: { claim: async (key, type) => (await sleep(100), store.claim(key, type)), complete: (k) => store.complete(k), release: (k) => store.release(k) },
      on: { 'order.completed': async (event) => void runs.push(event.id) },
    })
    expect((await r.handle(await delivery())).response.status).toBe(503)
    await r.close()
    expect(runs).toHaveLength(1)
  })
})

describe('the wait list and re-entrant handlers (from review)', () => {
  it('a synchronous handler that queues an event of its own at the limit: it runs, and close() resolves', async () => {
    const runs: string[] = []
    const inner = await delivery('order.refunded')
    const r = receiver({
      concurrency: 1,
      on: {
        'order.completed': () => {
          runs.push('outer')
          void (r.handleNow(inner) as ReceiverResult).after?.()
        },
        'order.refunded': () => void runs.push('inner'),
      },
    })
    await (r.handleNow(await delivery()) as ReceiverResult).after?.()
    await vi.waitFor(() => expect(runs).toEqual(['outer', 'inner']))
    await r.close()
    expect(r.stats()).toMatchObject({ running: 0, waiting: 0 })
  })
})

describe('attempts never overlap', () => {
  it('a handler that ignores its signal past the time limit holds its event: no retry runs beside it, and a late success counts', async () => {
    let running = 0
    let most = 0
    let calls = 0
    const failed = vi.fn()
    const { logger, lines } = recordingLogger()
    const signals: AbortSignal[] = []
    const r = receiver({
      logger,
      handlerTimeoutMs: 20,
      retry: { ...fast, maxAttempts: 3 },
      hooks: { failed },
      on: {
        'order.completed': async (_event, ctx: HandlerContext) => {
          calls++
          signals.push(ctx.signal)
          running++
          most = Math.max(most, running)
          await sleep(90) // ignores ctx.signal
          running--
        },
      },
    })
    await deliver(r, await delivery())
    expect(most).toBe(1)
    expect(calls).toBe(1)
    expect(signals[0]?.reason).toBeInstanceOf(WebhookHandlerTimeoutError)
    expect(failed).toHaveBeenCalledOnce()
    expect(lines.filter((l) => l.level === 'error' && l.msg?.includes('still running past its time limit')).length).toBeGreaterThanOrEqual(2)
    expect(lines.some((l) => l.level === 'warn' && l.msg?.includes('counted as succeeded'))).toBe(true)
    expect(await r.deadLetters()).toEqual([])
  })

  it('a late failure is a timeout and is retried only after the handler settled', async () => {
    const spans: [number, number][] = []
    const onError = vi.fn()
    const r = receiver({
      handlerTimeoutMs: 10,
      retry: { maxAttempts: 2, minDelayMs: 1, maxDelayMs: 1 },
      on: {
        'order.completed': async () => {
          const start = Date.now()
          await sleep(40)
          spans.push([start, Date.now()])
          throw new Error('late')
        },
      },
      onError,
    })
    await deliver(r, await delivery())
    expect(spans).toHaveLength(2)
    expect((spans[1] as [number, number])[0]).toBeGreaterThanOrEqual((spans[0] as [number, number])[1])
    expect((onError.mock.calls[0]?.[0] as WebhookHandlerError).cause).toBeInstanceOf(WebhookHandlerTimeoutError)
  })

  it('a handler that never settles is given up by close({ timeoutMs }), with onError', async () => {
    const onError = vi.fn()
    const r = receiver({ handlerTimeoutMs: 10, on: { 'order.completed': () => new Promise(() => {}) }, onError })
    const result = await r.handle(await delivery())
    const running = result.after?.()
    await sleep(30)
    await r.close({ timeoutMs: 20 })
    await running
    expect(onError).toHaveBeenCalledOnce()
    expect((onError.mock.calls[0]?.[0] as WebhookHandlerError).cause).toBeInstanceOf(WebhookReceiverClosedError)
  })
})

describe('bounded dispatch', () => {
  it('runs at most `concurrency` events at once; the rest wait in order, and acknowledgements do not wait', async () => {
    let running = 0
    let most = 0
    const started: number[] = []
    const release: (() => void)[] = []
    const r = receiver({
      concurrency: 3,
      on: {
        'order.completed': async (event) => {
          started.push((event.data as unknown as { n: number }).n)
          running++
          most = Math.max(most, running)
          await new Promise<void>((resolve) => release.push(resolve))
          running--
        },
      },
    })
    const afters: Promise<void>[] = []
    const sent: number[] = []
    for (let i = 0; i < 10; i++) {
      const d = await delivery()
      sent.push((JSON.parse(d.body.toString()) as { n: number }).n)
      const result = r.handleNow(d) as ReceiverResult
      expect(result.response.status).toBe(200)
      afters.push(result.after?.() as Promise<void>)
    }
    expect(r.stats()).toMatchObject({ running: 3, waiting: 7 })
    let closed = false
    const closing = r.close().then(() => (closed = true))
    while (release.length > 0 || running > 0) {
      release.shift()?.()
      await sleep(1)
    }
    await Promise.all(afters)
    await closing
    expect(closed).toBe(true)
    expect(most).toBe(3)
    expect(started).toEqual(sent)
    expect(r.stats()).toMatchObject({ running: 0, waiting: 0 })
  })

  it('close({ timeoutMs }) gives up waiting events too, each to onError', async () => {
    const onError = vi.fn()
    const r = receiver({ concurrency: 1, on: { 'order.completed': () => new Promise(() => {}) }, onError })
    const afters = []
    for (let i = 0; i < 3; i++) afters.push((await r.handle(await delivery())).after?.())
    await r.close({ timeoutMs: 10 })
    await Promise.all(afters)
    expect(onError).toHaveBeenCalledTimes(3)
    expect(r.stats().waiting).toBe(0)
  })

  it('validates concurrency', () => {
    expect(() => receiver({ concurrency: 0 })).toThrow(/concurrency/)
    expect(() => receiver({ concurrency: 1.5 })).toThrow(/concurrency/)
    expect(() => receiver({ concurrency: Infinity })).not.toThrow()
  })
})

describe('authentic deliveries are never refused for their shape', () => {
  it('acknowledges a signed body without any type and hands it to onEvent as "unknown"', async () => {
    const seen: WebhookEvent[] = []
    const typed = vi.fn()
    const r = receiver({ on: { 'order.completed': typed }, onEvent: (event) => void seen.push(event) })
    for (const body of ['{"customer":{"email":"a@example.com"}}', '[1,2]', '"text"', 'null']) {
      const result = await deliver(r, await delivery(null, body))
      expect(result.response.status).toBe(200)
    }
    expect(seen.map((e) => [e.type, e.deliveredType])).toEqual(Array(4).fill(['unknown', '']))
    expect(seen.map((e) => e.data)).toEqual([{ customer: { email: 'a@example.com' } }, [1, 2], 'text', null])
    expect(typed).not.toHaveBeenCalled()
  })

  it('takes the Standard Webhooks public test vector (no type in its body)', async () => {
    const seen: string[] = []
    const r = createWebhookReceiver({
      provider: 'standard-webhooks',
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      logger: false,
      now: () => 1614265330 * 1000,
      onEvent: (event) => void seen.push(`${event.type}:${event.id}`),
    })
    const result = await r.handle({
      method: 'POST',
      headers: {
        'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
        'webhook-timestamp': '1614265330',
        'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
      },
      body: '{"test": 2432232314}',
    })
    expect(result.response.status).toBe(200)
    await result.after?.()
    expect(seen).toEqual(['unknown:msg_p5jXN8AQM9LWM0D4loKWxJek'])
  })

  it('stores an id no store could hold (U+0000, an unpaired surrogate) as its hash', async () => {
    const keys: string[] = []
    const r = createWebhookReceiver({
      provider: 'pocketbook',
      secret: SECRET,
      logger: false,
      dedupe: { claim: (key) => (keys.push(key), true), complete: () => {}, release: () => {} },
    })
    for (const id of ['evt_\u0000x', 'evt_\ud800', 'evt_ok_😀']) {
      const body = JSON.stringify({ id, type: 'voucher.minted', created: 1, data: {} })
      const result = await r.handle({ method: 'POST', headers: await signWebhook({ provider: 'pocketbook', secret: SECRET, body }), body })
      expect(result.response.status).toBe(200)
    }
    expect(keys[0]).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(keys[1]).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(keys[2]).toBe('evt_ok_😀')
  })
})

describe('duplicates under another type', () => {
  it('keeps the first type with the claim, and warns when a re-send names another (the header is not signed)', async () => {
    const { logger, lines } = recordingLogger()
    const duplicate = vi.fn()
    const r = receiver({ logger, hooks: { duplicate } })
    const body = JSON.stringify({ customer: { email: 'a@example.com' }, n: counter++ })
    const sign = async (type: string) => ({ method: 'POST', headers: await signWebhook({ secret: SECRET, body, type }), body })
    await deliver(r, await sign('order.completed'))
    await deliver(r, await sign('order.completed'))
    await deliver(r, await sign('order.refunded'))
    expect(duplicate.mock.calls.map(([event, info]) => [(event as WebhookEvent).type, info])).toEqual([
      ['order.completed', { firstType: 'order.completed' }],
      ['order.refunded', { firstType: 'order.completed' }],
    ])
    const warnings = lines.filter((l) => l.level === 'warn' && l.msg?.includes('another event type'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]?.obj).toMatchObject({ type: 'order.refunded', firstType: 'order.completed' })
  })
})

// --- the rules, against an oracle --------------------------------------------------------------

/** What a handler does on its n-th call for one event. */
type Behaviour = { kind: 'ok' | 'throw' | 'reject' | 'throwValue'; async: boolean; delayMs: number }

describe('exactly once, on random schedules (property)', () => {
  it('each handler of each accepted event succeeds once, or the event is a dead letter naming it; no handler overlaps itself', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          handlersPerType: fc.integer({ min: 1, max: 3 }),
          catchAlls: fc.integer({ min: 0, max: 2 }),
          maxAttempts: fc.integer({ min: 1, max: 3 }),
          concurrency: fc.integer({ min: 1, max: 4 }),
          events: fc.integer({ min: 1, max: 6 }),
          resends: fc.array(fc.nat({ max: 5 }), { maxLength: 6 }),
          behaviours: fc.array(
            fc.record({ kind: fc.constantFrom('ok', 'ok', 'throw', 'reject', 'throwValue'), async: fc.boolean(), delayMs: fc.integer({ min: 0, max: 3 }) }),
            { minLength: 1, maxLength: 40 },
          ),
        }),
        async (plan) => {
          let next = 0
          const behaviour = (): Behaviour => plan.behaviours[next++ % plan.behaviours.length] as Behaviour
          const successes = new Map<string, number>()
          const running = new Set<string>()
          let overlaps = 0
          const handler = (name: string) => (event: WebhookEvent) => {
            const key = `${event.id}|${name}`
            if (running.has(key)) overlaps++
            const b = behaviour()
            const settle = () => {
              running.delete(key)
              if (b.kind === 'ok') {
                successes.set(key, (successes.get(key) ?? 0) + 1)
                return
              }
              if (b.kind === 'throwValue') throw { code: 42 }
              throw new Error(`${name} failed`)
            }
            running.add(key)
            if (!b.async) return settle()
            return sleep(b.delayMs).then(() => {
              if (b.kind === 'reject') running.delete(key)
              return b.kind === 'reject' ? Promise.reject(new Error('rejected')) : settle()
            })
          }
          const typed = Array.from({ length: plan.handlersPerType }, (_, i) => handler(`t${i}`))
          const catchAll = Array.from({ length: plan.catchAlls }, (_, i) => handler(`c${i}`))
          const names = [...typed.map((_, i) => `t${i}`), ...catchAll.map((_, i) => `c${i}`)]
          const r = receiver({
            retry: { maxAttempts: plan.maxAttempts, minDelayMs: 0, maxDelayMs: 1 },
            concurrency: plan.concurrency,
            on: { 'order.completed': typed },
            onEvent: catchAll,
          })
          const deliveries = await Promise.all(Array.from({ length: plan.events }, () => delivery()))
          const afters: Promise<void>[] = []
          const acknowledged = new Set<string>()
          for (const d of [...deliveries, ...plan.resends.map((i) => deliveries[i % deliveries.length])]) {
            const result = await r.handle(d as (typeof deliveries)[number])
            expect(result.response.status).toBe(200)
            acknowledged.add(result.event?.id as string)
            if (result.after) afters.push(result.after())
          }
          await Promise.all(afters)
          await r.close()
          const letters = new Map((await r.deadLetters({ limit: 1000 })).map((l) => [l.id, l]))
          expect(overlaps).toBe(0)
          for (const id of acknowledged) {
            const letter = letters.get(id)
            names.forEach((name, i) => {
              const count = successes.get(`${id}|${name}`) ?? 0
              expect(count).toBeLessThanOrEqual(1)
              const recorded = i < typed.length ? (i === 0 ? 'order.completed' : `order.completed#${i + 1}`) : i === typed.length ? 'onEvent' : `onEvent#${i - typed.length + 1}`
              if (count === 0) expect(letter?.failedHandlers).toContain(recorded)
              else expect(letter?.failedHandlers ?? []).not.toContain(recorded)
            })
          }
        },
      ),
      { numRuns: 60 },
    )
  })
})
