// redisDedupeStore against the real Redis: one winner across instances, release and complete, the
// first type a duplicate reports, and a receiver (Express, in-process handlers) that answers 503
// while Redis is unreachable. Network faults mid-claim: dedupe-faults.test.ts.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Redis } from 'ioredis'
import { Redis as Redis5 } from 'ioredis5'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import type { DedupeStore } from '@pocketsflow-webhooks/core'
import { DEFAULT_RETENTION_MS, redisDedupeStore, type RedisDedupeStoreOptions } from '../src/index.js'
import { startTcpProxy, throughProxy } from '../../../test/tcp-proxy.js'
import { post, REDIS_URL, removeKeys, SECRET, sleep, startApp, uniqueName } from './helpers.js'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

const FIRST = { firstType: 'order.completed' }

function store(prefix: string, extra: RedisDedupeStoreOptions = {}): DedupeStore {
  const s = redisDedupeStore({ url: REDIS_URL, prefix, ...extra })
  cleanups.push(async () => s.close?.())
  return s
}

function prefix(label: string): string {
  const p = `${uniqueName(label)}:`
  cleanups.push(() => removeKeys(p))
  return p
}

describe('redisDedupeStore', () => {
  it('lets exactly one of many concurrent claims across instances win', async () => {
    const p = prefix('claims')
    const stores = [store(p), store(p), store(p)]
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => (stores[i % 3] as DedupeStore).claim('evt_1', 'order.completed')))
    expect(results.filter((r) => r === true)).toHaveLength(1)
  })

  it('release lets a re-send through; complete keeps the id for the retention and is not undone by release', async () => {
    const p = prefix('lifecycle')
    const a = store(p, { retentionMs: 60_000 })
    const b = store(p, { retentionMs: 60_000 })
    expect(await a.claim('evt', 'order.completed')).toBe(true)
    expect(await b.claim('evt', 'order.completed')).toEqual(FIRST)
    await a.release('evt')
    expect(await b.claim('evt', 'order.completed')).toBe(true)
    await b.complete('evt')
    await a.release('evt')
    expect(await a.claim('evt', 'order.completed')).toEqual(FIRST)
    const redis = new Redis(REDIS_URL)
    try {
      const ttl = await redis.pttl(`${p}evt`)
      expect(ttl).toBeGreaterThan(50_000)
      expect(ttl).toBeLessThanOrEqual(60_000)
    } finally {
      redis.disconnect()
    }
  })

  it('remembers a handled id for 30 days by default', async () => {
    const p = prefix('default-retention')
    const a = store(p)
    expect(await a.claim('evt', 'order.completed')).toBe(true)
    await a.complete('evt')
    const redis = new Redis(REDIS_URL)
    try {
      const ttl = await redis.pttl(`${p}evt`)
      expect(ttl).toBeGreaterThan(DEFAULT_RETENTION_MS - 60_000)
      expect(ttl).toBeLessThanOrEqual(DEFAULT_RETENTION_MS)
    } finally {
      redis.disconnect()
    }
    expect(DEFAULT_RETENTION_MS).toBe(30 * 24 * 60 * 60 * 1000)
  })

  it('a claim whose process died expires after pendingTtlMs, so a re-send is not blocked for the retention', async () => {
    const p = prefix('pending')
    const a = store(p, { pendingTtlMs: 200 })
    expect(await a.claim('evt', 'order.completed')).toBe(true)
    expect(await a.claim('evt', 'order.completed')).toEqual(FIRST)
    await sleep(300)
    expect(await a.claim('evt', 'order.completed')).toBe(true)
  })

  it("a release after the claim expired does not drop another process's newer claim", async () => {
    const p = prefix('own-claim')
    const a = store(p, { pendingTtlMs: 200 })
    const b = store(p, { pendingTtlMs: 60_000 })
    expect(await a.claim('evt', 'order.completed')).toBe(true)
    await sleep(300) // a's handlers ran past its pendingTtlMs
    expect(await b.claim('evt', 'order.completed')).toBe(true) // a re-send, now being handled by b
    await a.release('evt') // a gives up: must not free b's claim
    expect(await store(p).claim('evt', 'order.completed')).toEqual(FIRST) // a third delivery is still a duplicate
    await b.complete('evt')
    expect(await store(p).claim('evt', 'order.completed')).toEqual(FIRST)
  })

  it('answers a duplicate with the type the id was first claimed with, while pending and once done', async () => {
    const p = prefix('first-type')
    const a = store(p)
    const b = store(p)
    expect(await a.claim('evt', 'order.completed')).toBe(true)
    expect(await b.claim('evt', 'order.refunded')).toEqual({ firstType: 'order.completed' })
    expect(await a.claim('evt', 'order.refunded')).toEqual({ firstType: 'order.completed' })
    await a.complete('evt')
    expect(await b.claim('evt', 'subscription.created')).toEqual({ firstType: 'order.completed' })
    // Any text the sender put in its (unsigned) type header, colons included.
    expect(await a.claim('odd', 'a:b: c')).toBe(true)
    expect(await b.claim('odd', 'order.completed')).toEqual({ firstType: 'a:b: c' })
    const redis = new Redis(REDIS_URL)
    try {
      expect(await redis.get(`${p}evt`)).toBe('done:order.completed')
    } finally {
      redis.disconnect()
    }
  })

  it('reads the values of earlier versions (no type) as duplicates of an unknown type', async () => {
    const p = prefix('old-values')
    const redis = new Redis(REDIS_URL)
    try {
      await redis.set(`${p}done`, 'done', 'PX', 60_000)
      await redis.set(`${p}pending`, 'pending:8d3e3f0c-6c56-4b8e-9a53-0c7f0f7e1d11:3', 'PX', 60_000)
    } finally {
      redis.disconnect()
    }
    const a = store(p)
    expect(await a.claim('done', 'order.completed')).toBe(false)
    expect(await a.claim('pending', 'order.completed')).toBe(false)
  })

  it('two claims of one id by the same store at once: exactly one wins', async () => {
    const p = prefix('same-store')
    const a = store(p)
    const results = await Promise.all(Array.from({ length: 10 }, () => a.claim('evt', 'order.completed')))
    expect(results.filter((r) => r === true)).toHaveLength(1)
    expect(results.filter((r) => r !== true)).toEqual(Array(9).fill(FIRST))
  })

  // ioredis 5 too (type-checked as well): an app may upgrade this package before its own ioredis.
  it.each([
    ['ioredis 6', (url: string): Redis | Redis5 => new Redis(url)],
    ['ioredis 5', (url: string): Redis | Redis5 => new Redis5(url)],
  ])('uses a given ioredis client without closing it (%s)', async (_name, connect) => {
    const p = prefix('client')
    const client = connect(REDIS_URL)
    cleanups.push(async () => client.disconnect())
    const s = redisDedupeStore({ client, prefix: p })
    expect(await s.claim('x', 'order.completed')).toBe(true)
    await s.close?.()
    expect(await client.get(`${p}x`)).toMatch(/^pending:/)
  })

  it('runs a receiver: one run per event, and 503 while Redis is unreachable', async () => {
    const p = prefix('receiver')
    const target = new URL(REDIS_URL)
    const proxy = await startTcpProxy(Number(target.port || 6379), target.hostname)
    cleanups.push(() => proxy.close())
    const runs: string[] = []
    const app = await startApp({
      secret: SECRET,
      storeTimeoutMs: 1000,
      dedupe: redisDedupeStore({ url: throughProxy(REDIS_URL, proxy), prefix: p }),
      on: { 'order.completed': (e) => void runs.push(e.id) },
    })
    cleanups.push(() => app.stop(1000))
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(app.url, req)).body).toEqual({ received: true })
    expect((await post(app.url, req)).body).toEqual({ received: true, duplicate: true })
    await vi.waitFor(() => expect(runs).toHaveLength(1))

    await proxy.stop()
    const during = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await post(app.url, during)).status).toBe(503)
    await proxy.start()
    let status = 0
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await post(app.url, during)).status
      if (status !== 200) await sleep(200)
    }
    expect(status).toBe(200)
    await vi.waitFor(() => expect(runs).toHaveLength(2))
  })

  it('validates its options', () => {
    expect(() => redisDedupeStore({ retentionMs: 0 })).toThrow(/retentionMs/)
    expect(() => redisDedupeStore({ client: {} as never })).toThrow(/client/)
  })
})
