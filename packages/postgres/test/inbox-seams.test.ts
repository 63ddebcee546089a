// Regression tests: connections that die or hang at awkward moments, and failures during close().
import { spawn } from 'node:child_process'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import pg from 'pg'
import { startInboxWorker, type HandlerContext, type WebhookEvent, type WebhookHandlerError } from '@pocketsflow-webhooks/core'
import { postgresInbox } from '../src/index.js'
import { DATABASE_URL, post, rows, SECRET, serve, sleep, testScope } from './helpers.js'

const { admin, servers, table } = testScope()

/**
 * A TCP proxy to PostgreSQL that, on the first connection whose client sends `freezeOn`, stops
 * forwarding anything in either direction while keeping both sockets open: a network partition,
 * as seen by that one connection. Every other connection is forwarded normally.
 */
async function freezingProxy(freezeOn: string): Promise<{ url: string; frozen: () => boolean; close: () => Promise<void> }> {
  const target = new URL(DATABASE_URL)
  const sockets = new Set<Socket>()
  let frozenOnce = false
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname)
    let frozen = false
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('close', () => {
        sockets.delete(socket)
        client.destroy()
        upstream.destroy()
      })
      socket.on('error', () => {})
    }
    client.on('data', (chunk: Buffer) => {
      if (!frozenOnce && chunk.includes(freezeOn)) {
        frozenOnce = true
        frozen = true
      }
      if (!frozen) upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => {
      if (!frozen) client.write(chunk)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = new URL(DATABASE_URL)
  url.hostname = '127.0.0.1'
  url.port = String((server.address() as { port: number }).port)
  return {
    url: url.toString(),
    frozen: () => frozenOnce,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

const event = (id: string): WebhookEvent => ({ id, type: 'order.completed', payload: { id } }) as unknown as WebhookEvent

describe('postgresInbox under broken connections', () => {
  it('does not crash the process when PostgreSQL ends the connection that is creating the table', async () => {
    const name = table('migration_killed')
    const fixture = fileURLToPath(new URL('./fixtures/migration-terminated.mjs', import.meta.url))
    const child = spawn(process.execPath, [fixture], { env: { ...process.env, DATABASE_URL, TABLE: name }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
    expect(output).toContain('terminated 1')
    expect(output).toContain('deadLetters rejected')
    expect(output).toContain('survived')
    expect(code).toBe(0)
  })

  it('recovers when the connection creating the table hangs (partition), and close() does not hang', async () => {
    const name = table('migration_hung')
    const proxy = await freezingProxy('CREATE TABLE')
    const inbox = postgresInbox({ connectionString: proxy.url, table: name })
    try {
      await expect(inbox.record(event('evt_hung_1'))).rejects.toThrow()
      expect(proxy.frozen()).toBe(true)
      // The database is fine for every other connection: recording must work again once the hung
      // statement has been given up on, not stay stuck behind it for ever.
      await vi.waitFor(async () => expect(await inbox.record(event('evt_hung_2'))).toBe(true), { timeout: 20_000, interval: 500 })
      const started = Date.now()
      await inbox.close()
      expect(Date.now() - started).toBeLessThan(3000)
    } finally {
      await proxy.close()
    }
  }, 30_000)

  it('close() does not hang on a LISTEN connection that stopped answering', async () => {
    const name = table('listen_hung')
    const proxy = await freezingProxy('LISTEN')
    const handled: string[] = []
    const app = await serve({
      secret: SECRET,
      on: { 'order.completed': (e: WebhookEvent) => void handled.push(e.id) },
      inbox: postgresInbox({ connectionString: proxy.url, table: name, pollIntervalMs: 100, leaseMs: 2000 }),
    })
    try {
      await vi.waitFor(() => expect(proxy.frozen()).toBe(true))
      // The poll still processes events meanwhile.
      expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
      await vi.waitFor(() => expect(handled).toHaveLength(1), { timeout: 5000 })
      const started = Date.now()
      await app.close(1000)
      expect(Date.now() - started).toBeLessThan(3000)
    } finally {
      await proxy.close()
    }
  })
})

describe('postgresInbox outcomes at the edges', () => {
  it('dead-letters a final failure that close() interrupted, instead of releasing it to run again', async () => {
    const name = table('final_on_close')
    const onError = vi.fn()
    let typedRuns = 0
    const app = await serve({
      secret: SECRET,
      retry: { maxAttempts: 1 },
      onError,
      on: {
        // The typed handler fails its last attempt (onError is called)...
        'order.completed': () => {
          typedRuns++
          throw new Error('fulfilment refused')
        },
      },
      // ...and onEvent is still running when close() runs out of time.
      onEvent: (_e: WebhookEvent, ctx: HandlerContext) =>
        new Promise<void>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
      inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, pollIntervalMs: 100, leaseMs: 2000 }),
    })
    servers.push(app)
    expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(() => expect(typedRuns).toBe(1))
    await app.close(200)
    // onError reports the event as failed for good once the attempt ends: it must not come back as
    // pending, where another worker would run the failed handler again past maxAttempts and call
    // onError again.
    expect(onError).toHaveBeenCalledTimes(1)
    expect((await rows(admin, name)).map((r) => [r.status, r.attempts, r.last_error])).toEqual([['dead', 1, 'fulfilment refused']])
    expect(typedRuns).toBe(1)
  })

  it('records a failure whose message contains a NUL character, on time and once', async () => {
    const name = table('nul_error')
    const onError = vi.fn()
    const attempts: number[] = []
    const app = await serve({
      secret: SECRET,
      retry: { maxAttempts: 2, minDelayMs: 10, maxDelayMs: 20, jitter: false },
      onError,
      on: {
        'order.completed': (_e: WebhookEvent, ctx: HandlerContext) => {
          attempts.push(ctx.attempt)
          throw new Error('upstream said: bad\u0000byte')
        },
      },
      inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, pollIntervalMs: 100, leaseMs: 5000 }),
    })
    servers.push(app)
    expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    // Two attempts a few ms apart, then a dead letter: not a lease (5 s) of waiting per attempt.
    await vi.waitFor(async () => expect((await rows(admin, name))[0]?.status).toBe('dead'), { timeout: 3000 })
    expect((await rows(admin, name))[0]).toMatchObject({ attempts: 2, last_error: expect.stringMatching(/^upstream said: bad.?byte$/) })
    expect(attempts).toEqual([1, 2])
    await sleep(300)
    expect(onError).toHaveBeenCalledTimes(1)
  })
})

describe('postgresInbox: exactly once at its seams', () => {
  const delivery = () => signedRequest({ secret: SECRET, type: 'order.completed' })

  it('a success whose early record failed (a transient error) is written with the outcome: the retry does not run it again', async () => {
    const name = table('mark_fails_once')
    // A pool whose first `completed_handlers` append fails, as a dropped connection would.
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 })
    pool.on('error', () => {})
    const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>
    let failNextMark = true
    pool.query = ((...args: unknown[]) => {
      const config = args[0] as string | { text: string }
      const text = typeof config === 'string' ? config : config.text
      if (failNextMark && text.includes('array_append')) {
        failNextMark = false
        return Promise.reject(new Error('Connection terminated unexpectedly'))
      }
      return query(...args)
    }) as typeof pool.query
    const runs: string[] = []
    let failB = 1
    const app = await serve({
      secret: SECRET,
      retry: { maxAttempts: 3, minDelayMs: 10, maxDelayMs: 10 },
      on: {
        'order.completed': [
          () => void runs.push('A'),
          () => {
            runs.push('B')
            if (failB-- > 0) throw new Error('B down')
          },
        ],
      },
      inbox: postgresInbox({ pool, table: name, pollIntervalMs: 50 }),
    })
    try {
      expect((await post(app.url, await delivery())).status).toBe(200)
      await vi.waitFor(() => expect(runs).toEqual(['A', 'B', 'B']), { timeout: 5000 })
      await sleep(200)
      expect(runs).toEqual(['A', 'B', 'B'])
    } finally {
      await app.close(1000)
      await pool.end()
    }
  })

  it('close({ timeoutMs }) does not hand back at once an event whose handler ignores its signal: no other worker runs it beside it within its lease', async () => {
    const name = table('close_overlap')
    let running = 0
    let most = 0
    const handler = async () => {
      running++
      most = Math.max(most, running)
      await sleep(1500) // ignores ctx.signal
      running--
    }
    const options = { handlerTimeoutMs: 5000, on: { 'order.completed': handler } }
    // The lease outlasts what is left of the handler once close() gives up on it (by default it is the
    // handler's time limit + 10 s): past it, a process still running would overlap (documented).
    const first = await serve({ secret: SECRET, ...options, inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, pollIntervalMs: 100, leaseMs: 3000 }) })
    expect((await post(first.url, await delivery())).status).toBe(200)
    await vi.waitFor(() => expect(running).toBe(1), { timeout: 5000 })
    // Another instance on the same table, then a rolling deploy with a shutdown deadline.
    const second = startInboxWorker({ inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, pollIntervalMs: 100, leaseMs: 3000 }), logger: false, ...options })
    try {
      await first.close(100)
      await vi.waitFor(() => expect(running).toBe(0), { timeout: 5000 })
      await sleep(500)
      expect(most).toBe(1)
      // Once its lease lapsed, the other instance ran it, still as attempt 1 (the interrupted run is not counted).
      await vi.waitFor(async () => expect((await rows(admin, name)).map((r) => [r.status, r.attempts])).toEqual([['done', 1]]), { timeout: 10_000 })
    } finally {
      await second.close({ timeoutMs: 3000 })
    }
  })

  it('reports a dead letter that was stored but never reported (its worker died in between), with the stored error', async () => {
    const name = table('unreported')
    const first = await serve({ secret: SECRET, retry: false, on: { 'order.completed': () => Promise.reject(new Error('refund API said no')) }, inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, pollIntervalMs: 50 }) })
    const onErrorFirst = vi.fn()
    expect((await post(first.url, await delivery())).status).toBe(200)
    await vi.waitFor(async () => expect((await rows(admin, name))[0]?.status).toBe('dead'), { timeout: 5000 })
    await first.close(1000)
    // As if the process had died between the write and the report: the flag still set, long ago.
    await admin.query(`UPDATE "${name}" SET report_pending = true, finished_at = now() - interval '1 hour'`)
    const errors: WebhookHandlerError[] = []
    const worker = startInboxWorker({
      inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, pollIntervalMs: 50 }),
      logger: false,
      on: { 'order.completed': () => {} },
      onError: (error) => void errors.push(error),
    })
    try {
      await vi.waitFor(() => expect(errors).toHaveLength(1), { timeout: 5000 })
      expect(errors[0]).toMatchObject({ handler: 'order.completed', attempts: 1 })
      expect(errors[0]?.message).toContain('refund API said no')
      await sleep(300)
      expect(errors).toHaveLength(1)
      expect(onErrorFirst).not.toHaveBeenCalled()
      expect((await admin.query(`SELECT report_pending FROM "${name}"`)).rows).toEqual([{ report_pending: false }])
    } finally {
      await worker.close({ timeoutMs: 1000 })
    }
  })
})

describe('postgresInbox: found by the fault suite', () => {
  it('keeps claiming after a wake-up that found every slot busy (it used to stop for good: events stayed pending)', async () => {
    const name = table('busy_wake_up')
    const runs: string[] = []
    const app = await serve({
      secret: SECRET,
      on: {
        'order.completed': async (event: WebhookEvent) => {
          runs.push(event.id)
          await sleep(600)
        },
      },
      inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, concurrency: 1, pollIntervalMs: 50 }),
    })
    try {
      expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
      await vi.waitFor(() => expect(runs).toHaveLength(1), { timeout: 5000 })
      // Recorded while the only slot is busy: their notifications and the polls find it full.
      for (let i = 0; i < 2; i++) expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
      await vi.waitFor(async () => expect((await rows(admin, name)).map((r) => r.status)).toEqual(['done', 'done', 'done']), { timeout: 10_000 })
      expect(new Set(runs).size).toBe(3)
    } finally {
      await app.close(1000)
    }
  })

  it('does not claim again an event it is still running when its lease lapsed (its store writes failing): the outcome is written once they work', async () => {
    const name = table('own_lapsed_lease')
    // A pool whose lease extensions and outcome writes fail for a while, as they would through a
    // flaky network, while claims get through.
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 })
    pool.on('error', () => {})
    const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>
    let failingUntil = 0
    pool.query = ((...args: unknown[]) => {
      const config = args[0] as string | { text: string }
      const text = typeof config === 'string' ? config : config.text
      const leaseOrOutcome = text.includes('locked_until = now() +') && !text.includes('SKIP LOCKED')
      if ((leaseOrOutcome || text.includes("status = 'done'")) && Date.now() < failingUntil) return Promise.reject(new Error('Connection terminated unexpectedly'))
      return query(...args)
    }) as typeof pool.query
    const runs: number[] = []
    const app = await serve({
      secret: SECRET,
      on: {
        'order.completed': async (_event: WebhookEvent, ctx: HandlerContext) => {
          runs.push(ctx.attempt)
          if (runs.length === 1) failingUntil = Date.now() + 1200
          await sleep(300)
        },
      },
      inbox: postgresInbox({ pool, table: name, pollIntervalMs: 20, leaseMs: 600 }),
    })
    try {
      expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
      await vi.waitFor(async () => expect((await rows(admin, name)).map((r) => r.status)).toEqual(['done']), { timeout: 10_000 })
      await sleep(300)
      expect(runs).toEqual([1])
    } finally {
      await app.close(1000)
      await pool.end()
    }
  })

  it('an outcome PostgreSQL refuses (not a connection error) is not retried past the lease: close() does not hang on it (from review)', async () => {
    const name = table('refused_outcome')
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 10 })
    pool.on('error', () => {})
    const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>
    pool.query = ((...args: unknown[]) => {
      const config = args[0] as string | { text: string }
      const text = typeof config === 'string' ? config : config.text
      if (text.includes("status = 'done'")) {
        const refused = new pg.DatabaseError('permission denied for table', 0, 'error')
        refused.code = '42501'
        return Promise.reject(refused)
      }
      return query(...args)
    }) as typeof pool.query
    const app = await serve({ secret: SECRET, on: { 'order.completed': () => {} }, inbox: postgresInbox({ pool, table: name, pollIntervalMs: 50, leaseMs: 400 }) })
    try {
      expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
      await sleep(300)
      const closing = app.close(Infinity)
      const closedIn = await Promise.race([closing.then(() => 'closed'), sleep(5000).then(() => 'still waiting')])
      expect(closedIn).toBe('closed')
    } finally {
      await app.close(1000)
      await pool.end()
    }
  })
})
