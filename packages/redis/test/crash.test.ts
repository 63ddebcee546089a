// kill -9 of a receiver process (Express + bullmqInbox, test/fixtures/receiver.mjs, run from this
// package's build): right after its 200, and in the middle of a handler. Runs are counted in Redis.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { Redis } from 'ioredis'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { bullmqInbox } from '../src/index.js'
import { startTcpProxy, throughProxy, type TcpProxy } from '../../../test/tcp-proxy.js'
import { post, REDIS_URL, removeKeys, SECRET, sleep, uniqueName } from './helpers.js'

const fixture = fileURLToPath(new URL('./fixtures/receiver.mjs', import.meta.url))
const redis = new Redis(REDIS_URL)
const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

interface Receiver {
  readonly url: string
  readonly child: ReturnType<typeof spawn>
  readonly exited: Promise<unknown>
  output(): string
}

// Like test/example-server.ts, with more patience: a loaded CI machine can take a while to boot a
// process that loads Express, ioredis and BullMQ.
async function receiver(name: string, env: Record<string, string> = {}): Promise<Receiver> {
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, PORT: '0', REDIS_URL, QUEUE_NAME: name, POCKETSFLOW_WEBHOOK_SECRET: SECRET, LOCK_MS: '2000', STALLED_MS: '500', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  cleanups.push(async () => {
    child.kill('SIGKILL')
    await exited
  })
  for (let i = 0; i < 300 && !output.includes('listening') && child.exitCode === null; i++) await sleep(50)
  const listening = /listening on (http:\/\/localhost:\d+\/\S*)/.exec(output)
  if (!listening) throw new Error(`the receiver fixture did not start:\n${output}`)
  return { url: (listening[1] as string).replace('localhost', '127.0.0.1'), child, exited, output: () => output }
}

async function kill9(server: Receiver): Promise<void> {
  server.child.kill('SIGKILL')
  await server.exited
}

const runs = (name: string) => redis.lrange(`${name}:runs`, 0, -1)

describe('bullmqInbox across a kill -9', { timeout: 60_000 }, () => {
  it('an event acknowledged right before the process dies is processed once after the restart', async () => {
    const name = uniqueName('kill-after-200')
    cleanups.push(() => removeKeys(name))
    // The first life never finishes a handler: whatever it got to, nothing completes.
    const first = await receiver(name, { HANG_ON_ATTEMPT: '1' })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(first.url, req)).status).toBe(200)
    await kill9(first)

    const second = await receiver(name)
    await vi.waitFor(async () => expect((await runs(name)).filter((r) => r.startsWith('finished'))).toHaveLength(1), { timeout: 20_000, interval: 100 })
    // A re-send after the restart is still a duplicate.
    expect((await post(second.url, req)).body).toEqual({ received: true, duplicate: true })
    await sleep(2500)
    expect((await runs(name)).filter((r) => r.startsWith('finished'))).toHaveLength(1)
  })

  it('a handler killed mid-run is run again once its lock expires, as attempt 2', async () => {
    const name = uniqueName('kill-mid-handler')
    cleanups.push(() => removeKeys(name))
    const first = await receiver(name, { HANG_ON_ATTEMPT: '1' })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(first.url, req)).status).toBe(200)
    await vi.waitFor(async () => expect(await runs(name)).toHaveLength(1), { timeout: 10_000, interval: 50 })
    await kill9(first)

    await receiver(name)
    await vi.waitFor(async () => expect((await runs(name)).map((r) => r.replace(/ \S+ /, ' '))).toEqual(['started 1', 'started 2', 'finished 2']), {
      timeout: 20_000,
      interval: 100,
    })
    await sleep(2500)
    expect(await runs(name)).toHaveLength(3)
  })

  it('an event whose last attempt was cut short by a crash becomes a dead letter, and is not run again', async () => {
    const name = uniqueName('kill-last-attempt')
    cleanups.push(() => removeKeys(name))
    const first = await receiver(name, { HANG_ON_ATTEMPT: '1', MAX_ATTEMPTS: '1' })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(first.url, req)).status).toBe(200)
    await vi.waitFor(async () => expect(await runs(name)).toHaveLength(1), { timeout: 10_000, interval: 50 })
    await kill9(first)

    await receiver(name, { MAX_ATTEMPTS: '1' })
    const inbox = bullmqInbox({ connection: { url: REDIS_URL }, queueName: name, prefix: name, logger: false })
    cleanups.push(() => inbox.close())
    await vi.waitFor(async () => expect(await inbox.deadLetters()).toHaveLength(1), { timeout: 20_000, interval: 100 })
    const [letter] = await inbox.deadLetters()
    expect(letter).toMatchObject({ type: 'order.completed', attempts: 1, lastError: expect.stringMatching(/cut short/) })
    expect(await runs(name)).toHaveLength(1)
    // Dead-lettered outside an attempt, it still reaches onError.
    await vi.waitFor(async () => expect(await redis.lrange(`${name}:errors`, 0, -1)).toEqual(['inbox 1']), { timeout: 5000 })
  })

  it('a handler error that reads like the dead-letter marker, then a last attempt cut short: onError still hears of it once', async () => {
    const name = uniqueName('kill-after-marker-like-error')
    cleanups.push(() => removeKeys(name))
    // Attempt 1 fails with a message that starts like the marker a failed dead-letter write leaves
    // in BullMQ's failedReason; attempt 2 hangs, and the process dies under it.
    const env = { MAX_ATTEMPTS: '2', FAIL_ON_ATTEMPT: '1', FAIL_MESSAGE: '[dead letter pending] not a marker', HANG_ON_ATTEMPT: '2' }
    const first = await receiver(name, env)
    expect((await post(first.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(async () => expect(await runs(name)).toHaveLength(2), { timeout: 10_000, interval: 50 })
    await kill9(first)

    await receiver(name, { MAX_ATTEMPTS: '2' })
    const inbox = bullmqInbox({ connection: { url: REDIS_URL }, queueName: name, prefix: name, logger: false })
    cleanups.push(() => inbox.close())
    await vi.waitFor(async () => expect(await inbox.deadLetters()).toHaveLength(1), { timeout: 20_000, interval: 100 })
    expect((await inbox.deadLetters())[0]).toMatchObject({ attempts: 2, lastError: expect.stringMatching(/cut short/) })
    await vi.waitFor(async () => expect(await redis.lrange(`${name}:errors`, 0, -1)).toEqual(['inbox 2']), { timeout: 5000 })
  })

  // A final failure, then the process dies: before its dead letter reached Redis (A), or after it
  // was stored but before onError (B). Either way onError is called once in all, never before the
  // outcome is stored, and a report made after the restart carries what was stored.
  async function finalFailureThenKill(name: string, fault: (proxy: TcpProxy) => void | Promise<void>): Promise<void> {
    const target = new URL(REDIS_URL)
    const proxy = await startTcpProxy(Number(target.port || 6379), target.hostname)
    cleanups.push(() => proxy.close())
    const first = await receiver(name, { INBOX_REDIS_URL: throughProxy(REDIS_URL, proxy), MAX_ATTEMPTS: '1', HANDLER_MS: '300', FAIL: '1' })
    expect((await post(first.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(async () => expect(await runs(name)).toHaveLength(1), { timeout: 10_000, interval: 20 })
    await fault(proxy) // the handler fails right after this
    await sleep(800)
    await kill9(first)
    expect(await redis.lrange(`${name}:errors`, 0, -1)).toEqual([])
  }

  it('a kill after a final failure, before its dead letter is stored: onError once, after the restart', async () => {
    const name = uniqueName('kill-before-outcome')
    cleanups.push(() => removeKeys(name))
    await finalFailureThenKill(name, (proxy) => proxy.stop())
    await receiver(name, { MAX_ATTEMPTS: '1', FAIL: '1' })
    await vi.waitFor(async () => expect(await redis.lrange(`${name}:errors`, 0, -1)).toHaveLength(1), { timeout: 20_000, interval: 100 })
    await sleep(1000)
    expect(await redis.lrange(`${name}:errors`, 0, -1)).toHaveLength(1)
    expect(await runs(name)).toHaveLength(1)
  })

  it('a kill after a final failure was stored, before onError: reported once after the restart, with the stored error', async () => {
    const name = uniqueName('kill-before-report')
    cleanups.push(() => removeKeys(name))
    await finalFailureThenKill(name, (proxy) => proxy.delayReplies(5000))
    const inbox = bullmqInbox({ connection: { url: REDIS_URL }, queueName: name, prefix: name, logger: false })
    cleanups.push(() => inbox.close())
    expect((await inbox.deadLetters()).map((l) => l.lastError)).toEqual(['fulfilment refused'])
    await sleep(2100) // older than a lock: its own worker is surely not reporting it any more
    await receiver(name, { MAX_ATTEMPTS: '1', FAIL: '1' })
    await vi.waitFor(async () => expect(await redis.lrange(`${name}:errors`, 0, -1)).toEqual(['order.completed 1 fulfilment refused']), { timeout: 20_000, interval: 100 })
    await sleep(1000)
    expect(await redis.lrange(`${name}:errors`, 0, -1)).toHaveLength(1)
    expect(await runs(name)).toHaveLength(1)
  })
})

afterAll(() => redis.disconnect())
