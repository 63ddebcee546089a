import { describe, expect, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import type { HandlerContext, WebhookEvent } from '@pocketsflow-webhooks/core'
import { DEFAULT_TABLE, migrationSql, postgresInbox } from '../src/index.js'
import { DATABASE_URL, post, rows, SECRET, sleep, testScope, type Running } from './helpers.js'

const { admin, table, start } = testScope()

const fast = { pollIntervalMs: 100, leaseMs: 2000 }

describe('postgresInbox', () => {
  it('names its table and server (WebhookInbox.queue), the same however the connection is given', async () => {
    const pg = (await import('pg')).default
    const pool = new pg.Pool({ host: 'localhost', port: 5432, database: 'test' })
    const inboxes = [
      postgresInbox({ connectionString: 'postgres://postgres@127.0.0.1:5432/test' }),
      postgresInbox({ pool }),
      postgresInbox({ connectionString: 'postgres://postgres@127.0.0.1:5432/test', table: 'orders_inbox' }),
      postgresInbox({ connectionString: 'postgres://postgres@127.0.0.1:5432/other' }),
    ]
    try {
      const [byUrl, byPool, otherTable, otherDatabase] = inboxes.map((inbox) => inbox.queue)
      expect(byUrl).toBe(`postgres localhost:5432/test "${DEFAULT_TABLE}"`)
      expect(byPool).toBe(byUrl)
      expect(otherTable).not.toBe(byUrl)
      expect(otherDatabase).not.toBe(byUrl)
    } finally {
      await Promise.all(inboxes.map((inbox) => inbox.close()))
      await pool.end()
    }
  })

  it('runs the handler exactly once for 50 concurrent identical deliveries across 3 receivers', async () => {
    const name = table('concurrent')
    const handled: string[] = []
    const on = { 'order.completed': (event: WebhookEvent) => void handled.push(event.id) }
    const apps = await Promise.all(
      [0, 1, 2].map(() => start({ secret: SECRET, on, inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, ...fast }) })),
    )
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => post((apps[i % 3] as Running).url, req)))
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200))
    expect(responses.filter((r) => (r.body as { duplicate?: boolean }).duplicate !== true)).toHaveLength(1)
    await vi.waitFor(() => expect(handled).toHaveLength(1), { timeout: 5000 })
    await sleep(500)
    expect(handled).toHaveLength(1)
    expect((await rows(admin, name)).map((r) => [r.status, r.attempts])).toEqual([['done', 1]])
  })

  it('retries a handler that fails 3 times, then succeeds without calling onError', async () => {
    const name = table('retry')
    const attempts: number[] = []
    const onError = vi.fn()
    const app = await start({
      secret: SECRET,
      retry: { maxAttempts: 5, minDelayMs: 20, maxDelayMs: 50, jitter: false },
      onError,
      on: {
        'order.completed': (_event: WebhookEvent, ctx: HandlerContext) => {
          attempts.push(ctx.attempt)
          if (ctx.attempt <= 3) throw new Error(`failure ${ctx.attempt}`)
        },
      },
      inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, ...fast }),
    })
    expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(async () => expect((await rows(admin, name))[0]?.status).toBe('done'), { timeout: 8000 })
    expect(attempts).toEqual([1, 2, 3, 4])
    expect(onError).not.toHaveBeenCalled()
    expect((await rows(admin, name))[0]).toMatchObject({ attempts: 4, last_error: 'failure 3' })
  })

  it('keeps an event that always fails as a dead letter, replays it, and reprocesses a redelivered dead event', async () => {
    const name = table('dead')
    let fixed = false
    const handled: string[] = []
    const onError = vi.fn()
    const inbox = postgresInbox({ connectionString: DATABASE_URL, table: name, ...fast })
    const app = await start({
      secret: SECRET,
      retry: { maxAttempts: 2, minDelayMs: 10, maxDelayMs: 20, jitter: false },
      onError,
      on: {
        'order.completed': (event: WebhookEvent) => {
          if (!fixed) throw new Error('card declined by the fulfilment API')
          handled.push(event.id)
        },
      },
      inbox,
    })
    const first = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { customer: { email: 'dead@example.com' } } })
    expect((await post(app.url, first)).status).toBe(200)
    await vi.waitFor(async () => expect(await inbox.deadLetters()).toHaveLength(1), { timeout: 5000 })
    const [letter] = await inbox.deadLetters()
    expect(letter).toMatchObject({ type: 'order.completed', attempts: 2, lastError: 'card declined by the fulfilment API' })
    expect(letter?.failedAt).toBeInstanceOf(Date)
    expect(letter?.event.payload).toEqual(JSON.parse(first.body))
    expect(onError).toHaveBeenCalledTimes(1)
    const id = letter?.id as string
    expect((await rows(admin, name)).map((r) => r.id)).toEqual([id])

    fixed = true
    expect(await inbox.replay(id)).toBe(true)
    await vi.waitFor(() => expect(handled).toEqual([id]), { timeout: 5000 })
    await vi.waitFor(async () => expect((await rows(admin, name))[0]?.status).toBe('done'))
    expect(await inbox.deadLetters()).toEqual([])
    expect(await inbox.replay(id)).toBe(false)
    expect(await inbox.replay('no-such-event')).toBe(false)
    // Done within the retention: a redelivery is a duplicate.
    expect((await post(app.url, first)).body).toEqual({ received: true, duplicate: true })

    // A redelivery of an event that is dead is processed again, not acknowledged as a duplicate.
    fixed = false
    const second = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(app.url, second)).status).toBe(200)
    await vi.waitFor(async () => expect(await inbox.deadLetters()).toHaveLength(1), { timeout: 5000 })
    fixed = true
    expect(await post(app.url, second)).toEqual({ status: 200, body: { received: true } })
    await vi.waitFor(() => expect(handled).toHaveLength(2), { timeout: 5000 })
    expect(await inbox.deadLetters()).toEqual([])
  })

  it('close() drains a running handler', async () => {
    const name = table('drain')
    const steps: string[] = []
    const app = await start({
      secret: SECRET,
      on: {
        'order.completed': async () => {
          steps.push('started')
          await sleep(400)
          steps.push('finished')
        },
      },
      inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, ...fast }),
    })
    expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(() => expect(steps).toEqual(['started']))
    await app.close(10_000)
    expect(steps).toEqual(['started', 'finished'])
    expect((await rows(admin, name)).map((r) => [r.status, r.attempts])).toEqual([['done', 1]])
  })

  it('close() out of time aborts and releases the event, which another worker runs as attempt 1', async () => {
    const name = table('release')
    const seen: { who: string; attempt: number; aborted?: boolean }[] = []
    const onError = vi.fn()
    const a = await start({
      secret: SECRET,
      onError,
      on: {
        'order.completed': (_event: WebhookEvent, ctx: HandlerContext) =>
          new Promise<void>((_, reject) => {
            seen.push({ who: 'a', attempt: ctx.attempt })
            ctx.signal.addEventListener('abort', () => {
              seen.push({ who: 'a', attempt: ctx.attempt, aborted: true })
              reject(ctx.signal.reason)
            })
          }),
      },
      inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, ...fast }),
    })
    expect((await post(a.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(() => expect(seen).toHaveLength(1))
    await a.close(200)
    expect(seen).toEqual([{ who: 'a', attempt: 1 }, { who: 'a', attempt: 1, aborted: true }])
    expect((await rows(admin, name)).map((r) => [r.status, r.attempts, r.last_error])).toEqual([['pending', 0, null]])

    await start({
      secret: SECRET,
      on: { 'order.completed': (_event: WebhookEvent, ctx: HandlerContext) => void seen.push({ who: 'b', attempt: ctx.attempt }) },
      inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, ...fast }),
    })
    await vi.waitFor(async () => expect((await rows(admin, name))[0]?.status).toBe('done'), { timeout: 5000 })
    expect(seen.at(-1)).toEqual({ who: 'b', attempt: 1 })
    expect(onError).not.toHaveBeenCalled()
  })

  it('records without handlers (web process) and a separate worker inbox processes them', async () => {
    const name = table('split')
    const web = await start({ secret: SECRET, inbox: postgresInbox({ connectionString: DATABASE_URL, table: name }) })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect(await post(web.url, req)).toEqual({ status: 200, body: { received: true } })
    expect(await post(web.url, req)).toEqual({ status: 200, body: { received: true, duplicate: true } })
    await sleep(200)
    expect((await rows(admin, name)).map((r) => r.status)).toEqual(['pending'])
    const { startInboxWorker } = await import('@pocketsflow-webhooks/core')
    const handled: string[] = []
    const worker = startInboxWorker({
      inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, ...fast }),
      logger: { debug() {}, info() {}, warn() {}, error() {} },
      on: { 'order.completed': (event) => void handled.push(event.id) },
    })
    try {
      await vi.waitFor(() => expect(handled).toHaveLength(1), { timeout: 5000 })
    } finally {
      await worker.close({ timeoutMs: 2000 })
    }
  })

  it('forgets done events after the retention: a later redelivery is processed again', async () => {
    const name = table('retention')
    const handled: string[] = []
    const app = await start({
      secret: SECRET,
      on: { 'order.completed': (event: WebhookEvent) => void handled.push(event.id) },
      inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, ...fast, retentionMs: 300 }),
    })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(app.url, req)).status).toBe(200)
    await vi.waitFor(() => expect(handled).toHaveLength(1))
    await vi.waitFor(async () => expect(await rows(admin, name)).toEqual([]), { timeout: 5000 })
    expect(await post(app.url, req)).toEqual({ status: 200, body: { received: true } })
    await vi.waitFor(() => expect(handled).toHaveLength(2))
  })

  it('works with a table created by migrationSql() and createTable: false, in a schema, on your own pool', async () => {
    const schema = table('schema')
    const sql = migrationSql({ schema, table: 'inbox' })
    expect(sql).toContain(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
    expect(migrationSql()).toContain(`CREATE TABLE IF NOT EXISTS "${DEFAULT_TABLE}"`)
    await admin.query(sql)
    await admin.query(sql) // idempotent
    const { default: pg } = await import('pg')
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 4 })
    try {
      const handled: string[] = []
      const app = await start({
        secret: SECRET,
        on: { 'order.completed': (event: WebhookEvent) => void handled.push(event.id) },
        inbox: postgresInbox({ pool, schema, table: 'inbox', createTable: false, ...fast }),
      })
      expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
      await vi.waitFor(() => expect(handled).toHaveLength(1))
      await app.close(2000)
      // The pool is the caller's: still usable after close().
      expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }])
    } finally {
      await pool.end()
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    }
  })

  it('rejects bad options', () => {
    expect(() => postgresInbox({} as never)).toThrow(/connectionString/)
    expect(() => postgresInbox({ connectionString: DATABASE_URL, table: 'x'.repeat(60) })).toThrow(/table/)
    expect(() => postgresInbox({ connectionString: DATABASE_URL, concurrency: 0 })).toThrow(/concurrency/)
  })
})
