// Regression tests from a review of bullmqInbox: each one reproduces a bug that was fixed.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createServer, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { Redis } from 'ioredis'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { startInboxWorker, type WebhookEvent, type WebhookHandlerError, type WebhookInbox } from '@pocketsflow-webhooks/core'
import { type InboxAttempt, type InboxOutcome, type InboxProcessor } from '@pocketsflow-webhooks/core/inbox'
import { bullmqInbox } from '../src/index.js'
import { post, quiet, REDIS_URL, SECRET, sleep, testScope, uniqueName } from './helpers.js'

const { cleanups, inboxFor, queue, app } = testScope()

function redis(): Redis {
  const client = new Redis(REDIS_URL)
  cleanups.push(async () => client.disconnect())
  return client
}

describe('bullmqInbox at its seams', () => {
  it('a final attempt whose handler failed is dead-lettered, not given back, when close() interrupts the next handler', async () => {
    const name = queue('close-final')
    const errors: WebhookHandlerError[] = []
    let onEventStarted = false
    const inbox = inboxFor(name)
    const first = await app({
      secret: SECRET,
      inbox,
      retry: { maxAttempts: 1 },
      onError: (error) => void errors.push(error),
      on: {
        'order.completed': () => {
          throw new Error('typed handler broken')
        },
      },
      // Runs after the typed handler failed, and only stops when the signal aborts.
      onEvent: (_e, ctx) =>
        new Promise((_, reject) => {
          onEventStarted = true
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))
        }),
    })
    expect((await post(first.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(() => expect(onEventStarted).toBe(true), { timeout: 5000 })
    await first.stop(200)
    // The event failed its last attempt (onError said so): it is a dead letter...
    expect(errors.map((e) => e.handler)).toEqual(['order.completed'])
    const check = inboxFor(name)
    await vi.waitFor(async () => expect(await check.deadLetters()).toHaveLength(1), { timeout: 3000 })
    expect((await check.deadLetters())[0]).toMatchObject({ attempts: 1, lastError: 'typed handler broken' })

    // ...and no other worker runs it again.
    const runs: number[] = []
    await app({ secret: SECRET, inbox: inboxFor(name), retry: { maxAttempts: 1 }, on: { 'order.completed': (_e, ctx) => void runs.push(ctx.attempt) } })
    await sleep(1500)
    expect(runs).toEqual([])
  })

  it('a handler that throws a value String() chokes on still ends as a dead letter, on its last attempt', async () => {
    const name = queue('unprintable')
    const inbox = inboxFor(name)
    const started = await app({
      secret: SECRET,
      inbox,
      retry: { maxAttempts: 2, minDelayMs: 10, maxDelayMs: 10, jitter: false },
      on: { 'order.completed': () => Promise.reject(Object.assign(Object.create(null) as object, { code: 'E_UPSTREAM' })) },
    })
    expect((await post(started.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(async () => expect(await inbox.deadLetters()).toHaveLength(1), { timeout: 5000 })
    expect((await inbox.deadLetters())[0]).toMatchObject({ attempts: 2, lastError: '{"code":"E_UPSTREAM"}' })
  })

  it('an event whose last attempt was cut short reaches onError even when the first dead-letter write failed', async () => {
    const name = queue('cut-short-retry')
    const client = redis()
    const inbox = inboxFor(name)
    const event = { id: `evt_${name}`, type: 'order.completed', deliveredType: 'order.completed', data: {}, payload: { event: 'order.completed', data: {} }, provider: 'pocketsflow', timestamp: undefined, verification: { scheme: 'none' } } as unknown as WebhookEvent
    expect(await inbox.record(event)).toBe(true)
    // As if a process had started the only attempt and died: the next pick-up is attempt 2 of 1.
    const [jobId] = await client.lrange(`${name}:${name}:wait`, 0, -1)
    expect(jobId).toBeDefined()
    await client.hset(`${name}:${name}:${jobId as string}`, 'ats', '1')
    // The dead letters key of the wrong type: the first write fails, the retry succeeds.
    const deadLettersKey = `${name}:${name}:dead-letters`
    await client.set(deadLettersKey, 'in the way')

    const reported: { id: string; attempts: number; error: string }[] = []
    const runs: InboxAttempt[] = []
    const processor: InboxProcessor = {
      maxAttempts: 1,
      attemptTimeoutMs: 1000,
      logger: quiet,
      run: async (attempt): Promise<InboxOutcome> => {
        runs.push(attempt)
        return { ok: true }
      },
      deadLettered: (e, attempts, error) => void reported.push({ id: e.id, attempts, error: (error as Error).message }),
    }
    await inbox.start(processor)
    await vi.waitFor(async () => expect(await client.type(deadLettersKey)).toBe('string'), { timeout: 2000 })
    await sleep(300)
    await client.del(deadLettersKey)
    await vi.waitFor(async () => expect(await inbox.deadLetters()).toHaveLength(1), { timeout: 5000 })
    expect((await inbox.deadLetters())[0]).toMatchObject({ id: event.id, attempts: 1, lastError: expect.stringMatching(/cut short/) })
    await vi.waitFor(() => expect(reported).toEqual([{ id: event.id, attempts: 1, error: expect.stringMatching(/cut short/) }]), { timeout: 2000 })
    expect(runs).toEqual([])
  })

  it('close() with Redis unreachable leaves no connection reconnecting behind', async () => {
    // A "Redis" that accepts connections and drops them at once: every client keeps reconnecting.
    let connections = 0
    const sockets = new Set<Socket>()
    const server = createServer((socket) => {
      connections++
      sockets.add(socket)
      socket.destroy()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanups.push(async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise((resolve) => server.close(resolve))
    })
    const port = (server.address() as AddressInfo).port
    const inbox = bullmqInbox({ connection: { url: `redis://127.0.0.1:${port}` }, queueName: uniqueName('unreachable'), logger: quiet })
    await inbox.start({ maxAttempts: 1, attemptTimeoutMs: 1000, logger: quiet, run: async () => ({ ok: true }), deadLettered: () => {} })
    await sleep(1500)
    expect(connections).toBeGreaterThan(0)
    await inbox.close({ timeoutMs: 500 })
    await sleep(500)
    const after = connections
    // The reconnection strategy retries at most 2 s apart: anything still alive shows up here.
    await sleep(4500)
    expect(connections - after).toBe(0)
  })

  it('reports a dead letter that was stored but never reported (its worker died in between), with the stored error', async () => {
    const name = queue('unreported')
    const first = await app({ secret: SECRET, retry: false, inbox: inboxFor(name), on: { 'order.completed': () => Promise.reject(new Error('refund API said no')) } })
    expect((await post(first.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    const web = first.webhook.receiver
    await vi.waitFor(async () => expect(await web.deadLetters()).toHaveLength(1), { timeout: 5000 })
    await first.stop(1000)
    // As if the process had died between the write and the report: the flag still set, long ago.
    const client = redis()
    const key = `${name}:${name}:dead-letters`
    const [[id, raw]] = Object.entries(await client.hgetall(key)) as [[string, string]]
    await client.hset(key, id, JSON.stringify({ ...JSON.parse(raw), reportPending: true, failedAt: Date.now() - 3_600_000 }))
    const errors: WebhookHandlerError[] = []
    const worker = startInboxWorker({ inbox: inboxFor(name), logger: quiet, on: { 'order.completed': () => {} }, onError: (error) => void errors.push(error) })
    cleanups.push(() => worker.close({ timeoutMs: 1000 }))
    await vi.waitFor(() => expect(errors).toHaveLength(1), { timeout: 5000 })
    expect(errors[0]).toMatchObject({ handler: 'order.completed', attempts: 1 })
    expect(errors[0]?.message).toContain('refund API said no')
    await sleep(300)
    expect(errors).toHaveLength(1)
    expect(JSON.parse((await client.hget(key, id)) as string)).toMatchObject({ reportPending: false })
  })

  it('close({ timeoutMs }) does not hand back at once an event whose handler ignores its signal: no other worker runs it beside it within its lock', async () => {
    const name = queue('close-overlap')
    let running = 0
    let most = 0
    const runs: number[] = []
    const handler = async (_event: WebhookEvent, ctx: { attempt: number }) => {
      runs.push(ctx.attempt)
      running++
      most = Math.max(most, running)
      await sleep(1500) // ignores ctx.signal
      running--
    }
    const options = { handlerTimeoutMs: 5000, on: { 'order.completed': handler } }
    // The lock outlasts what is left of the handler once close() gives up on it.
    const first = await app({ secret: SECRET, ...options, inbox: inboxFor(name, { lockDurationMs: 3000, stalledIntervalMs: 500 }) })
    expect((await post(first.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(() => expect(running).toBe(1), { timeout: 5000 })
    const second = startInboxWorker({ inbox: inboxFor(name, { lockDurationMs: 3000, stalledIntervalMs: 500 }), logger: quiet, ...options })
    cleanups.push(() => second.close({ timeoutMs: 3000 }))
    await first.stop(100)
    await vi.waitFor(() => expect(running).toBe(0), { timeout: 5000 })
    await sleep(500)
    expect(most).toBe(1)
    // Once its lock lapsed, the other worker ran it, as the same attempt (the interrupted run is not counted).
    await vi.waitFor(() => expect(runs).toEqual([1, 1]), { timeout: 15_000 })
    await vi.waitFor(() => expect(running).toBe(0), { timeout: 5000 })
    expect(most).toBe(1)
  })

  it('a worker that lost its lock while a handler ran does not go on to the next handler (found by the fault suite)', async () => {
    const name = queue('lost-lock-continue')
    const runs: string[] = []
    const client = redis()
    // Long locks: their renewal (every half) does not come around during the attempt; the lock is
    // taken over by hand while the first handler runs, as another worker would after an outage.
    const inbox = inboxFor(name, { lockDurationMs: 20_000 })
    const web = await app({
      secret: SECRET,
      inbox,
      on: {
        'order.completed': [
          async (_e: WebhookEvent, ctx: { attempt: number }) => {
            runs.push(`t0 ${ctx.attempt}`)
            const locks = await client.keys(`${name}:${name}:*:lock`)
            for (const lock of locks) await client.set(lock, 'another-worker', 'PX', 20_000)
          },
          (_e: WebhookEvent, ctx: { attempt: number }) => void runs.push(`t1 ${ctx.attempt}`),
        ],
      },
    })
    expect((await post(web.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(() => expect(runs).toContain('t0 1'), { timeout: 5000 })
    await sleep(500)
    expect(runs).toEqual(['t0 1'])
  })

  it('a worker that lost its lock writes no dead letter and reports nothing for a final failure: the attempt that holds it decides (from review)', async () => {
    const name = queue('lost-lock-dead-letter')
    const client = redis()
    const errors: WebhookHandlerError[] = []
    const inbox = inboxFor(name, { lockDurationMs: 20_000 })
    const web = await app({
      secret: SECRET,
      inbox,
      retry: { maxAttempts: 1 },
      onError: (error) => void errors.push(error),
      on: {
        'order.completed': async () => {
          // Taken over while it runs, then it fails its last attempt.
          for (const lock of await client.keys(`${name}:${name}:*:lock`)) await client.set(lock, 'another-worker', 'PX', 20_000)
          throw new Error('failed after the event was taken over')
        },
      },
    })
    expect((await post(web.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await sleep(800)
    expect(await web.webhook.receiver.deadLetters()).toEqual([])
    expect(errors).toEqual([])
  })
})
