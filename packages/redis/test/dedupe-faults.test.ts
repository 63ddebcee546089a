// redisDedupeStore when the network fails between it and Redis (through test/tcp-proxy.ts, on the
// real Redis): a reply lost after the claim ran, a claim that rejected after it landed, a claim
// whose reply comes after the receiver's deadline. None of these may turn an event nobody
// processed into a "duplicate", and two deliveries of one event must still never both win.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Redis } from 'ioredis'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import type { ClaimResult, DedupeStore } from '@pocketsflow-webhooks/core'
import { redisDedupeStore, type RedisDedupeStoreOptions } from '../src/index.js'
import { startTcpProxy, throughProxy, type TcpProxy } from '../../../test/tcp-proxy.js'
import { post, REDIS_URL, removeKeys, SECRET, sleep, startApp, uniqueName, type TestApp } from './helpers.js'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

function prefix(label: string): string {
  const p = `${uniqueName(label)}:`
  cleanups.push(() => removeKeys(p))
  return p
}

async function proxyToRedis(): Promise<TcpProxy> {
  const target = new URL(REDIS_URL)
  const proxy = await startTcpProxy(Number(target.port || 6379), target.hostname)
  cleanups.push(() => proxy.close())
  return proxy
}

function store(options: RedisDedupeStoreOptions): DedupeStore {
  const s = redisDedupeStore(options)
  cleanups.push(async () => s.close?.())
  return s
}

/** A store whose connection goes through the proxy, connected and idle when returned. */
async function storeThrough(proxy: TcpProxy, p: string, extra: RedisDedupeStoreOptions = {}): Promise<DedupeStore> {
  const s = store({ url: throughProxy(REDIS_URL, proxy), prefix: p, ...extra })
  expect(await s.claim(`warm-up-${uniqueName('w')}`, 'warm.up')).toBe(true)
  return s
}

/** A connection straight to Redis, to look at the keys. */
function inspector(): Redis {
  const redis = new Redis(REDIS_URL)
  cleanups.push(async () => redis.disconnect())
  return redis
}

async function valuesUnder(redis: Redis, p: string): Promise<string[]> {
  const keys = await redis.keys(`${p}*`)
  return keys.length === 0 ? [] : ((await redis.mget(...keys)) as string[])
}

async function appThrough(proxy: TcpProxy, p: string, runs: string[], storeTimeoutMs?: number): Promise<TestApp> {
  const app = await startApp({
    secret: SECRET,
    ...(storeTimeoutMs === undefined ? {} : { storeTimeoutMs }),
    dedupe: redisDedupeStore({ url: throughProxy(REDIS_URL, proxy), prefix: p }),
    on: { 'order.completed': (e) => void runs.push(e.id) },
  })
  cleanups.push(() => app.stop(1000))
  return app
}

/** One delivery handled to the end (claimed, run, completed): the connection is then up and idle. */
async function warmUp(app: TestApp, redis: Redis, p: string, runs: string[]): Promise<void> {
  const before = runs.length
  expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).body).toEqual({ received: true })
  await vi.waitFor(() => expect(runs).toHaveLength(before + 1))
  await vi.waitFor(async () => expect((await valuesUnder(redis, p)).every((v) => v.startsWith('done'))).toBe(true))
}

describe('redisDedupeStore when the connection fails', () => {
  it('a claim whose reply was lost is accepted and handled once, and a re-send is then a duplicate (receiver)', async () => {
    const p = prefix('lost-reply-app')
    const proxy = await proxyToRedis()
    const redis = inspector()
    const runs: string[] = []
    const app = await appThrough(proxy, p, runs)
    await warmUp(app, redis, p, runs)

    // Redis runs the claim, the connection dies before the reply, the client re-sends the claim
    // on the new connection: that must find its own claim, not a "duplicate".
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const lost = proxy.loseNextReply()
    expect(await post(app.url, req)).toEqual({ status: 200, body: { received: true } })
    await lost
    await vi.waitFor(() => expect(runs).toHaveLength(2))
    expect(new Set(runs).size).toBe(2)

    expect(await post(app.url, req)).toEqual({ status: 200, body: { received: true, duplicate: true } })
    await sleep(200)
    expect(runs).toHaveLength(2)
    await vi.waitFor(async () => expect(await valuesUnder(redis, p)).toEqual(['done:order.completed', 'done:order.completed']))
  })

  it('a claim whose reply was lost still wins, and keeps its type (store)', async () => {
    const p = prefix('lost-reply')
    const proxy = await proxyToRedis()
    const redis = inspector()
    const a = await storeThrough(proxy, p)
    const lost = proxy.loseNextReply()
    expect(await a.claim('evt', 'order.completed')).toBe(true)
    await lost
    expect(await redis.get(`${p}evt`)).toMatch(/^pending:.+:order\.completed$/)
    expect(await a.claim('evt', 'order.completed')).toEqual({ firstType: 'order.completed' })
    expect(await store({ url: REDIS_URL, prefix: p }).claim('evt', 'order.refunded')).toEqual({ firstType: 'order.completed' })
  })

  it('a claim whose reply was lost with its connection is answered once Redis is reachable: it landed, so it won', async () => {
    const p = prefix('unanswered')
    const proxy = await proxyToRedis()
    const redis = inspector()
    const a = await storeThrough(proxy, p)
    // The claim runs, its reply is lost, and the client cannot reconnect for a while.
    const lost = proxy.loseNextReply({ stop: true })
    let answered: ClaimResult | undefined
    const claiming = Promise.resolve(a.claim('evt', 'order.completed')).then((result) => (answered = result))
    await lost
    expect(await redis.get(`${p}evt`)).toMatch(/^pending:/) // it landed
    // Meanwhile another instance sees the claim: a duplicate, and not lost, since `a` owes its answer.
    expect(await store({ url: REDIS_URL, prefix: p }).claim('evt', 'order.completed')).toEqual({ firstType: 'order.completed' })
    await sleep(300)
    expect(answered).toBeUndefined()
    await proxy.start()
    expect(await claiming).toBe(true)
  })

  it('a claim that was never sent (the connection was down) fails at once and leaves nothing behind', async () => {
    const p = prefix('unsent')
    const proxy = await proxyToRedis()
    const redis = inspector()
    const a = await storeThrough(proxy, p)
    await proxy.stop()
    await sleep(300) // the client has seen its connection go
    await expect(a.claim('evt', 'order.completed')).rejects.toThrow(/isn't writeable/)
    expect(await redis.exists(`${p}evt`)).toBe(0)
  })

  it('a claim Redis answers with an error of its own fails at once: it is not asked again in a loop (from review)', async () => {
    const p = prefix('reply-error')
    const redis = inspector()
    await redis.hset(`${p}evt`, 'not', 'a string') // GET on it: WRONGTYPE
    const a = store({ url: REDIS_URL, prefix: p })
    const started = Date.now()
    await expect(a.claim('evt', 'order.completed')).rejects.toThrow(/WRONGTYPE/)
    expect(Date.now() - started).toBeLessThan(1000)
  })

  it('a release that failed is done once Redis is reachable', async () => {
    const p = prefix('release-failed')
    const proxy = await proxyToRedis()
    const redis = inspector()
    const a = await storeThrough(proxy, p)
    expect(await a.claim('evt', 'order.completed')).toBe(true)
    await proxy.stop()
    await expect(a.release('evt')).rejects.toThrow()
    expect(await redis.exists(`${p}evt`)).toBe(1)
    await proxy.start()
    await vi.waitFor(async () => expect(await redis.exists(`${p}evt`)).toBe(0), { timeout: 5000, interval: 50 })
  })

  it('a completion that failed is written once Redis is reachable: the id is remembered for the retention, not just pendingTtlMs', async () => {
    const p = prefix('complete-failed')
    const proxy = await proxyToRedis()
    const redis = inspector()
    const a = await storeThrough(proxy, p, { pendingTtlMs: 60_000, retentionMs: 3_600_000 })
    expect(await a.claim('evt', 'order.completed')).toBe(true)
    await proxy.stop()
    await expect(a.complete('evt')).rejects.toThrow()
    expect(await redis.get(`${p}evt`)).toMatch(/^pending:/)
    await proxy.start()
    await vi.waitFor(async () => expect(await redis.get(`${p}evt`)).toBe('done:order.completed'), { timeout: 5000, interval: 50 })
    expect(await redis.pttl(`${p}evt`)).toBeGreaterThan(60_000)
  })

  it('a claim whose reply was lost while Redis stayed away: 503, the event is processed once Redis is back, and a re-send meanwhile is not lost (receiver)', async () => {
    const p = prefix('unanswered-app')
    const proxy = await proxyToRedis()
    const redis = inspector()
    const runs: string[] = []
    const app = await appThrough(proxy, p, runs, 300)
    await warmUp(app, redis, p, runs)
    const other = await startApp({ secret: SECRET, dedupe: redisDedupeStore({ url: REDIS_URL, prefix: p }), on: { 'order.completed': (e) => void runs.push(e.id) } })
    cleanups.push(() => other.stop(1000))

    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const lost = proxy.loseNextReply({ stop: true })
    expect((await post(app.url, req)).status).toBe(503)
    await lost
    // The claim landed: the re-send, to another instance, is a duplicate.
    expect(await post(other.url, req)).toEqual({ status: 200, body: { received: true, duplicate: true } })
    await proxy.start()
    await vi.waitFor(() => expect(runs).toHaveLength(2), { timeout: 5000 })
    await vi.waitFor(async () => expect((await valuesUnder(redis, p)).every((v) => v === 'done:order.completed')).toBe(true), { timeout: 5000 })
    expect(await post(other.url, req)).toEqual({ status: 200, body: { received: true, duplicate: true } })
    await sleep(200)
    expect(runs).toHaveLength(2)
  })

  it("a claim whose reply comes after the receiver's deadline is processed, so a re-send meanwhile answered duplicate is not lost (receiver)", async () => {
    const p = prefix('late-app')
    const proxy = await proxyToRedis()
    const redis = inspector()
    const runs: string[] = []
    const app = await appThrough(proxy, p, runs, 300)
    await warmUp(app, redis, p, runs)

    // Another instance on the same Redis, reached directly.
    const other = await startApp({ secret: SECRET, dedupe: redisDedupeStore({ url: REDIS_URL, prefix: p }), on: { 'order.completed': (e) => void runs.push(e.id) } })
    cleanups.push(() => other.stop(1000))

    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    proxy.delayReplies(1000)
    expect((await post(app.url, req)).status).toBe(503)
    proxy.delayReplies(0)
    // The claim has landed: the re-send, to the other instance, is a duplicate...
    expect((await valuesUnder(redis, p)).filter((v) => v.startsWith('pending:'))).toHaveLength(1)
    expect(await post(other.url, req)).toEqual({ status: 200, body: { received: true, duplicate: true } })
    // ...so when its "won" arrives after the first receiver gave up, the event is processed there, once
    // (beside the warm-up's key).
    await vi.waitFor(async () => expect(await valuesUnder(redis, p)).toEqual(['done:order.completed', 'done:order.completed']), { timeout: 5000, interval: 50 })
    expect(runs).toHaveLength(2)
    expect(await post(other.url, req)).toEqual({ status: 200, body: { received: true, duplicate: true } })
    await sleep(100)
    expect(runs).toHaveLength(2)
  })

  it('concurrent claims across instances still have exactly one winner when replies are lost or claims fail', async () => {
    const p = prefix('race-faults')
    const proxy = await proxyToRedis()
    const redis = inspector()
    const stores = [
      store({ url: REDIS_URL, prefix: p }),
      store({ url: REDIS_URL, prefix: p }),
      await storeThrough(proxy, p),
      await storeThrough(proxy, p),
    ]
    const claimAll = (key: string) =>
      Promise.allSettled(stores.flatMap((s, i) => [s.claim(key, `type.${i}`), s.claim(key, `type.${i}`)]))
    const winners = (results: PromiseSettledResult<ClaimResult>[]) => results.filter((r) => r.status === 'fulfilled' && r.value === true).length

    // Lost replies: the client re-sends, and still exactly one claim wins.
    for (let round = 0; round < 8; round++) {
      const lost = proxy.loseNextReply()
      const results = await claimAll(`evt_${round}`)
      await lost
      expect(results.every((r) => r.status === 'fulfilled')).toBe(true)
      expect(winners(results)).toBe(1)
    }

    // Claims whose replies are lost while the proxy stays down: the proxied stores owe their answers
    // until it is back; the others answer at once. In all, exactly one claim wins.
    const lost = proxy.loseNextReply({ stop: true })
    const claiming = claimAll('evt_down')
    await lost
    await sleep(300)
    await proxy.start()
    const settled = await claiming
    expect(winners(settled)).toBe(1)
  })
})
