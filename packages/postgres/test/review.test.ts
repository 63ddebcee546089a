// Regression tests: connections that die or hang at awkward moments, and failures during close().
import { spawn } from 'node:child_process'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { describe, expect, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import type { HandlerContext, WebhookEvent } from '@pocketsflow-webhooks/core'
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
