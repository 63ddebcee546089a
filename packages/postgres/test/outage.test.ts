// PostgreSQL going away (through a TCP proxy that can stop), and the fencing of stale workers.
import { describe, expect, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import type { HandlerContext, WebhookEvent } from '@pocketsflow-webhooks/core'
import { startTcpProxy, throughProxy } from '../../../test/tcp-proxy.js'
import { postgresInbox } from '../src/index.js'
import { DATABASE_URL, post, rows, SECRET, serve, sleep, testScope } from './helpers.js'

const { admin, servers, table } = testScope()

describe('postgresInbox when PostgreSQL fails', () => {
  it('answers 503 while PostgreSQL is stopped, stores nothing it acknowledged, and recovers when it is back', async () => {
    const name = table('outage')
    const proxy = await startTcpProxy(Number(new URL(DATABASE_URL).port || 5432), new URL(DATABASE_URL).hostname)
    const errors: string[] = []
    const handled: string[] = []
    const app = await serve({
      secret: SECRET,
      logger: { debug() {}, info() {}, warn() {}, error: (_obj, msg) => void errors.push(String(msg)) },
      on: { 'order.completed': (event: WebhookEvent) => void handled.push(event.id) },
      inbox: postgresInbox({ connectionString: throughProxy(DATABASE_URL, proxy), table: name, pollIntervalMs: 100, leaseMs: 2000 }),
    })
    servers.push(app)
    try {
      expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
      await vi.waitFor(() => expect(handled).toHaveLength(1))

      await proxy.stop()
      const refused = await signedRequest({ secret: SECRET, type: 'order.completed' })
      for (let i = 0; i < 3; i++) {
        const started = Date.now()
        expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(503)
        expect(Date.now() - started).toBeLessThan(2500)
      }
      expect((await post(app.url, refused)).status).toBe(503)
      await sleep(300) // the workers' loop meets the outage too, and must survive it
      // Only the event acknowledged before the outage is stored.
      expect((await rows(admin, name)).map((r) => r.status)).toEqual(['done'])
      expect(errors).toContain('inbox unavailable: answering 503')

      await proxy.start()
      // The pool's connections died with the proxy; new ones are made on demand.
      await vi.waitFor(async () => expect((await post(app.url, refused)).status).toBe(200), { timeout: 5000, interval: 200 })
      await vi.waitFor(() => expect(handled).toHaveLength(2), { timeout: 5000 })
      const again = await signedRequest({ secret: SECRET, type: 'order.completed' })
      expect((await post(app.url, again)).status).toBe(200)
      await vi.waitFor(() => expect(handled).toHaveLength(3), { timeout: 5000 })
      expect((await rows(admin, name)).map((r) => r.status)).toEqual(['done', 'done', 'done'])
    } finally {
      await app.close(1000)
      await proxy.close()
    }
  })

  it('a worker whose claim was taken over cannot mark the event done or overwrite the newer attempt', async () => {
    const name = table('fence')
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const attempts: number[] = []
    const app = await serve({
      secret: SECRET,
      on: {
        'order.completed': async (_event: WebhookEvent, ctx: HandlerContext) => {
          attempts.push(ctx.attempt)
          await gate
        },
      },
      // A long lease: its heartbeat does not notice the takeover before the handler returns.
      inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, pollIntervalMs: 100, leaseMs: 30_000 }),
    })
    servers.push(app)
    expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(() => expect(attempts).toEqual([1]))
    // What another worker's claim does once it finds the lease expired (a long GC pause, a network
    // partition): a new attempt, a new fencing token.
    await admin.query(
      `UPDATE "${name}" SET attempts = attempts + 1, lease = lease + 1, locked_until = now() + interval '1 minute', last_error = 'newer attempt running'`,
    )
    release()
    await sleep(500)
    expect((await rows(admin, name)).map((r) => [r.status, r.attempts, r.last_error])).toEqual([['running', 2, 'newer attempt running']])
    await app.close(1000)
  })

  it('aborts ctx.signal when the heartbeat finds the claim taken over, and records nothing for it', async () => {
    const name = table('heartbeat')
    const reasons: string[] = []
    const app = await serve({
      secret: SECRET,
      on: {
        'order.completed': (_event: WebhookEvent, ctx: HandlerContext) =>
          new Promise<void>((_, reject) =>
            ctx.signal.addEventListener('abort', () => {
              reasons.push(String((ctx.signal.reason as Error).message))
              reject(new Error('handler stopped'))
            }),
          ),
      },
      inbox: postgresInbox({ connectionString: DATABASE_URL, table: name, pollIntervalMs: 100, leaseMs: 300 }),
    })
    servers.push(app)
    expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(async () => expect((await rows(admin, name))[0]?.status).toBe('running'))
    await sleep(400) // heartbeats keep it: still attempt 1
    expect((await rows(admin, name))[0]?.attempts).toBe(1)
    await admin.query(`UPDATE "${name}" SET attempts = attempts + 1, lease = lease + 1, locked_until = now() + interval '1 minute'`)
    await vi.waitFor(() => expect(reasons).toEqual([expect.stringMatching(/another worker took over/)]), { timeout: 3000 })
    await sleep(200)
    expect((await rows(admin, name)).map((r) => [r.status, r.attempts, r.last_error])).toEqual([['running', 2, null]])
    await app.close(1000)
  })
})
