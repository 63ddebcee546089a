// bullmqInbox against the real Redis, through the Express adapter and real HTTP: what is stored
// before the 200, dedupe across receivers, retries, dead letters and replay, Redis going away,
// and shutdown mid-handler.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import type { WebhookHandlerError, WebhookInbox } from '@pocketsflow-webhooks/core'
import { bullmqInbox } from '../src/index.js'
import { startTcpProxy, throughProxy, type TcpProxy } from '../../../test/tcp-proxy.js'
import { post, quiet, REDIS_URL, SECRET, sleep, testScope, type TestApp } from './helpers.js'

const { cleanups, inboxFor, queue, app } = testScope()

const fast = { maxAttempts: 3, minDelayMs: 20, maxDelayMs: 50, jitter: false }

describe('bullmqInbox', () => {
  it('50 concurrent identical deliveries across 3 receivers: one run, 49 answered as duplicates', async () => {
    const name = queue('concurrent')
    const runs: string[] = []
    const apps = await Promise.all(
      [0, 1, 2].map(() => app({ secret: SECRET, inbox: inboxFor(name), on: { 'order.completed': (e) => void runs.push(e.id) } })),
    )
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => post((apps[i % 3] as TestApp).url, req)))
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200))
    expect(responses.filter((r) => (r.body as { duplicate?: boolean }).duplicate === true)).toHaveLength(49)
    await vi.waitFor(() => expect(runs).toHaveLength(1), { timeout: 5000 })
    await sleep(500)
    expect(runs).toHaveLength(1)
    // Still a duplicate once the job is done and gone: the id is kept for the retention.
    expect((await post((apps[0] as TestApp).url, req)).body).toEqual({ received: true, duplicate: true })
  })

  it('retries a failing handler with the processor backoff until it succeeds; onError is never called', async () => {
    const name = queue('retry')
    const attempts: number[] = []
    const errors: WebhookHandlerError[] = []
    const { url } = await app({
      secret: SECRET,
      inbox: inboxFor(name),
      retry: { ...fast, maxAttempts: 5 },
      onError: (error) => void errors.push(error),
      on: {
        'order.completed': (_e, ctx) => {
          attempts.push(ctx.attempt)
          if (ctx.attempt <= 3) throw new Error(`fail ${ctx.attempt}`)
        },
      },
    })
    expect((await post(url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(() => expect(attempts).toEqual([1, 2, 3, 4]), { timeout: 5000 })
    await sleep(300)
    expect(attempts).toEqual([1, 2, 3, 4])
    expect(errors).toEqual([])
  })

  it('does not re-run a handler that succeeded when another handler of the event is retried', async () => {
    const name = queue('completed')
    const runs: string[] = []
    const { url } = await app({
      secret: SECRET,
      inbox: inboxFor(name),
      retry: fast,
      on: { 'order.completed': () => void runs.push('typed') },
      onEvent: (_e, ctx) => {
        runs.push(`onEvent ${ctx.attempt}`)
        if (ctx.attempt === 1) throw new Error('once')
      },
    })
    await post(url, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    await vi.waitFor(() => expect(runs).toEqual(['typed', 'onEvent 1', 'onEvent 2']), { timeout: 5000 })
  })

  it('dead-letters an event that failed every attempt, replays it, and processes a re-send of a dead-lettered id', async () => {
    const name = queue('dead')
    let fixed = false
    const runs: { id: string; attempt: number; ok: boolean }[] = []
    const errors: WebhookHandlerError[] = []
    const inbox = inboxFor(name)
    const { url } = await app({
      secret: SECRET,
      inbox,
      retry: { ...fast, maxAttempts: 2 },
      // An id with ":" in it, as some senders use: BullMQ refuses those as job ids.
      idempotencyKey: (e) => `evt:${e.id}`,
      onError: (error) => void errors.push(error),
      on: {
        'order.completed': (e, ctx) => {
          runs.push({ id: e.id, attempt: ctx.attempt, ok: fixed })
          if (!fixed) throw new Error(`still broken (${ctx.attempt})`)
        },
      },
    })
    const first = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const second = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(url, first)).status).toBe(200)
    expect((await post(url, second)).status).toBe(200)
    await vi.waitFor(async () => expect(await inbox.deadLetters()).toHaveLength(2), { timeout: 5000 })
    expect(errors).toHaveLength(2)
    const letters = await inbox.deadLetters()
    for (const letter of letters) {
      expect(letter.id).toMatch(/^evt:/)
      expect(letter).toMatchObject({ type: 'order.completed', attempts: 2, lastError: 'still broken (2)' })
      expect(letter.failedAt).toBeInstanceOf(Date)
      expect(letter.event.id).toBe(letter.id)
      expect(letter.event.payload).toMatchObject({ event: 'order.completed' })
    }
    // Newest first.
    expect(letters[0]?.failedAt.getTime()).toBeGreaterThanOrEqual(letters[1]?.failedAt.getTime() as number)
    expect(await inbox.deadLetters({ limit: 1 })).toHaveLength(1)

    fixed = true
    const [a, b] = letters as [(typeof letters)[0], (typeof letters)[0]]
    // Replay: a new run with attempts from 1, and the dead letter is gone.
    expect(await inbox.replay(a.id)).toBe(true)
    await vi.waitFor(() => expect(runs.filter((r) => r.id === a.id && r.ok)).toEqual([{ id: a.id, attempt: 1, ok: true }]), { timeout: 5000 })
    await vi.waitFor(async () => expect((await inbox.deadLetters()).map((l) => l.id)).toEqual([b.id]), { timeout: 2000 })
    expect(await inbox.replay(a.id)).toBe(false)
    expect(await inbox.replay('no-such-event')).toBe(false)
    // Replayed and done: a re-send is a duplicate again.
    const isFirst = JSON.stringify(a.event.payload) === JSON.stringify(JSON.parse(first.body))
    const replayedReq = isFirst ? first : second
    expect((await post(url, replayedReq)).body).toEqual({ received: true, duplicate: true })

    // A re-send of the other dead-lettered event is not a duplicate: it is processed.
    const otherReq = replayedReq === first ? second : first
    expect((await post(url, otherReq)).body).toEqual({ received: true })
    await vi.waitFor(() => expect(runs.filter((r) => r.id === b.id && r.ok)).toHaveLength(1), { timeout: 5000 })
    await vi.waitFor(async () => expect(await inbox.deadLetters()).toEqual([]), { timeout: 2000 })
    // And replaying now would find nothing to do.
    expect(await inbox.replay(b.id)).toBe(false)
    expect(errors).toHaveLength(2)
  })

  it('answers 503 while Redis is unreachable, acknowledges only what it stored, and 200 again once it is back', async () => {
    const name = queue('down')
    const proxy: TcpProxy = await startTcpProxy(Number(new URL(REDIS_URL).port || 6379), new URL(REDIS_URL).hostname)
    cleanups.push(() => proxy.close())
    const runs: string[] = []
    const { url } = await app({
      secret: SECRET,
      storeTimeoutMs: 1000,
      inbox: inboxFor(name, { connection: { url: throughProxy(REDIS_URL, proxy) } }),
      on: { 'order.completed': (e) => void runs.push(e.id) },
    })
    const before = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(url, before)).status).toBe(200)
    await vi.waitFor(() => expect(runs).toHaveLength(1), { timeout: 5000 })

    await proxy.stop()
    const during = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const started = Date.now()
    const answer = await post(url, during)
    expect(answer.status).toBe(503)
    expect(Date.now() - started).toBeLessThan(3000)
    // Several more while it is down: none acknowledged.
    const more = await Promise.all(Array.from({ length: 5 }, async () => post(url, await signedRequest({ secret: SECRET, type: 'order.completed' }))))
    expect(more.map((r) => r.status)).toEqual(Array(5).fill(503))

    await proxy.start()
    // The sender (or a person) re-sends the refused delivery: stored and processed once.
    let again = { status: 0, body: undefined as unknown }
    for (let i = 0; i < 50 && again.status !== 200; i++) {
      again = await post(url, during)
      if (again.status !== 200) await sleep(200)
    }
    expect(again).toEqual({ status: 200, body: { received: true } })
    await vi.waitFor(() => expect(runs).toHaveLength(2), { timeout: 5000 })
    await sleep(300)
    // Only the two acknowledged events ran: the refused ones were not stored behind the 503.
    expect(runs).toHaveLength(2)
  })

  it('close() still returns when Redis has gone away', async () => {
    const name = queue('close-down')
    const target = new URL(REDIS_URL)
    const proxy = await startTcpProxy(Number(target.port || 6379), target.hostname)
    cleanups.push(() => proxy.close())
    const runs: string[] = []
    const { url, stop } = await app({ secret: SECRET, inbox: inboxFor(name, { connection: { url: throughProxy(REDIS_URL, proxy) } }), on: { 'order.completed': (e) => void runs.push(e.id) } })
    await post(url, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    await vi.waitFor(() => expect(runs).toHaveLength(1), { timeout: 5000 })
    await proxy.stop()
    const started = Date.now()
    await stop(500)
    expect(Date.now() - started).toBeLessThan(8000)
  })

  it('close() waits for a running handler to finish (drain)', async () => {
    const name = queue('drain')
    const done: number[] = []
    let started = false
    const { url, stop } = await app({
      secret: SECRET,
      inbox: inboxFor(name),
      on: {
        'order.completed': async () => {
          started = true
          await sleep(400)
          done.push(Date.now())
        },
      },
    })
    await post(url, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    await vi.waitFor(() => expect(started).toBe(true), { timeout: 5000 })
    await stop(5000)
    expect(done).toHaveLength(1)
    // The job completed: nothing is left in the queue.
    const check = inboxFor(name)
    expect(await check.deadLetters()).toEqual([])
  })

  it('close() past its timeout aborts the handler and gives the event back, not counted as an attempt', async () => {
    const name = queue('release')
    const errors: unknown[] = []
    const seen: { attempt: number; aborted?: string }[] = []
    const first = await app({
      secret: SECRET,
      inbox: inboxFor(name),
      retry: { ...fast, maxAttempts: 2 },
      onError: (error) => void errors.push(error),
      on: {
        'order.completed': (_e, ctx) =>
          new Promise((_, reject) => {
            const entry: { attempt: number; aborted?: string } = { attempt: ctx.attempt }
            seen.push(entry)
            ctx.signal.addEventListener('abort', () => {
              entry.aborted = String((ctx.signal.reason as Error)?.name)
              reject(ctx.signal.reason)
            })
          }),
      },
    })
    await post(first.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    await vi.waitFor(() => expect(seen).toHaveLength(1), { timeout: 5000 })
    await first.stop(200)
    expect(seen[0]).toEqual({ attempt: 1, aborted: 'WebhookReceiverClosedError' })

    // Another worker takes it over, as the same attempt 1.
    const attempts: number[] = []
    await app({ secret: SECRET, inbox: inboxFor(name), retry: { ...fast, maxAttempts: 2 }, onError: (e) => void errors.push(e), on: { 'order.completed': (_e, ctx) => void attempts.push(ctx.attempt) } })
    await vi.waitFor(() => expect(attempts).toEqual([1]), { timeout: 5000 })
    expect(errors).toEqual([])
  })

  it('a web process without handlers only records; startInboxWorker elsewhere runs them', async () => {
    const { startInboxWorker } = await import('@pocketsflow-webhooks/core')
    const name = queue('split')
    const { url } = await app({ secret: SECRET, inbox: inboxFor(name) })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(url, req)).body).toEqual({ received: true })
    const runs: string[] = []
    const worker = startInboxWorker({ inbox: inboxFor(name), logger: quiet, on: { 'order.completed': (e) => void runs.push(e.id) } })
    cleanups.push(() => worker.close({ timeoutMs: 1000 }))
    await vi.waitFor(() => expect(runs).toHaveLength(1), { timeout: 5000 })
  })

  // ioredis 5 too: an app that upgrades this package before its own ioredis still passes its client.
  it.each([
    ['ioredis 6', async (url: string) => new (await import('ioredis')).Redis(url)],
    ['ioredis 5', async (url: string) => new (await import('ioredis5')).Redis(url)],
  ])('accepts an ioredis instance (%s): opens its own connections from it and leaves it open', async (_name, connect) => {
    const name = queue('instance')
    const mine = await connect(REDIS_URL)
    cleanups.push(async () => mine.disconnect())
    const inbox = bullmqInbox({ connection: mine, queueName: name, prefix: name, logger: quiet })
    const runs: string[] = []
    const { url, stop } = await app({ secret: SECRET, inbox, on: { 'order.completed': (e) => void runs.push(e.id) } })
    expect((await post(url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(() => expect(runs).toHaveLength(1), { timeout: 5000 })
    await stop(1000)
    expect(mine.status).toBe('ready')
    expect(await mine.ping()).toBe('PONG')
  })

  it('names its queue and server (WebhookInbox.queue), the same however the connection is given', async () => {
    const { Redis } = await import('ioredis')
    const mine = new Redis('redis://localhost:6379/2', { lazyConnect: true })
    const named = (connection: Parameters<typeof bullmqInbox>[0]['connection'], queueName?: string) => {
      const inbox = bullmqInbox({ connection, logger: quiet, ...(queueName ? { queueName } : {}) })
      cleanups.push(() => inbox.close())
      return inbox.queue
    }
    expect(named({ url: 'redis://127.0.0.1:6379/2' })).toBe('bullmq redis://127.0.0.1:6379/2 bull:pocketsflow-webhooks')
    expect(named(mine)).toBe(named({ url: 'redis://127.0.0.1:6379/2' }))
    expect(named({ host: '127.0.0.1', port: 6379, db: 2 })).toBe(named({ url: 'redis://127.0.0.1:6379/2' }))
    expect(named({ url: 'redis://127.0.0.1:6379/2' }, 'orders')).not.toBe(named({ url: 'redis://127.0.0.1:6379/2' }))
    expect(named({ url: 'redis://127.0.0.1:6380/2' })).not.toBe(named({ url: 'redis://127.0.0.1:6379/2' }))
    mine.disconnect()
  })

  it('validates its options', () => {
    expect(() => bullmqInbox(undefined as never)).toThrow(TypeError)
    expect(() => bullmqInbox({} as never)).toThrow(/connection/)
    expect(() => bullmqInbox({ connection: { url: REDIS_URL }, queueName: 'a:b' })).toThrow(/queueName/)
    expect(() => bullmqInbox({ connection: { url: REDIS_URL }, retentionMs: -1 })).toThrow(/retentionMs/)
    expect(() => bullmqInbox({ connection: { url: REDIS_URL }, concurrency: 1.5 })).toThrow(/concurrency/)
  })
})
