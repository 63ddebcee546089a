// redisDedupeStore against the real Redis: one winner across instances, release and complete,
// and a receiver (Express, in-process handlers) that answers 503 while Redis is unreachable.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { Redis } from 'ioredis'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import type { DedupeStore } from '@pocketsflow-webhooks/core'
import { redisDedupeStore, type RedisDedupeStoreOptions } from '../src/index.js'
import { startTcpProxy, throughProxy } from '../../../test/tcp-proxy.js'
import { post, REDIS_URL, removeKeys, SECRET, sleep, startApp, uniqueName } from './helpers.js'

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

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
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => (stores[i % 3] as DedupeStore).claim('evt_1')))
    expect(results.filter(Boolean)).toHaveLength(1)
  })

  it('release lets a re-send through; complete keeps the id for the retention and is not undone by release', async () => {
    const p = prefix('lifecycle')
    const a = store(p, { retentionMs: 60_000 })
    const b = store(p, { retentionMs: 60_000 })
    expect(await a.claim('evt')).toBe(true)
    expect(await b.claim('evt')).toBe(false)
    await a.release('evt')
    expect(await b.claim('evt')).toBe(true)
    await b.complete('evt')
    await a.release('evt')
    expect(await a.claim('evt')).toBe(false)
    const redis = new Redis(REDIS_URL)
    try {
      const ttl = await redis.pttl(`${p}evt`)
      expect(ttl).toBeGreaterThan(50_000)
      expect(ttl).toBeLessThanOrEqual(60_000)
    } finally {
      redis.disconnect()
    }
  })

  it('a claim whose process died expires after pendingTtlMs, so a re-send is not blocked for the retention', async () => {
    const p = prefix('pending')
    const a = store(p, { pendingTtlMs: 200 })
    expect(await a.claim('evt')).toBe(true)
    expect(await a.claim('evt')).toBe(false)
    await sleep(300)
    expect(await a.claim('evt')).toBe(true)
  })

  it("a release after the claim expired does not drop another process's newer claim", async () => {
    const p = prefix('own-claim')
    const a = store(p, { pendingTtlMs: 200 })
    const b = store(p, { pendingTtlMs: 60_000 })
    expect(await a.claim('evt')).toBe(true)
    await sleep(300) // a's handlers ran past its pendingTtlMs
    expect(await b.claim('evt')).toBe(true) // a re-send, now being handled by b
    await a.release('evt') // a gives up: must not free b's claim
    expect(await store(p).claim('evt')).toBe(false) // a third delivery is still a duplicate
    await b.complete('evt')
    expect(await store(p).claim('evt')).toBe(false)
  })

  it('uses a given ioredis client without closing it', async () => {
    const p = prefix('client')
    const client = new Redis(REDIS_URL)
    cleanups.push(async () => client.disconnect())
    const s = redisDedupeStore({ client, prefix: p })
    expect(await s.claim('x')).toBe(true)
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
