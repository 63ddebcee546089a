import { describe, expect, it } from 'vitest'
import { DEFAULT_DEDUPE_TTL_MS, MemoryDedupeStore } from '../index.js'

function clock(start = 0) {
  let t = start
  return { now: () => t, advance: (ms: number) => void (t += ms) }
}

describe('MemoryDedupeStore', () => {
  it('claims a key once until it is released', () => {
    const store = new MemoryDedupeStore()
    expect(store.claim('a')).toBe(true)
    expect(store.claim('a')).toBe(false)
    store.release('a')
    expect(store.claim('a')).toBe(true)
    store.complete('a')
    expect(store.claim('a')).toBe(false)
  })

  it('remembers keys for days by default, enough for a manual re-send from the dashboard', () => {
    expect(DEFAULT_DEDUPE_TTL_MS).toBeGreaterThanOrEqual(3 * 24 * 3600_000)
    const c = clock()
    const store = new MemoryDedupeStore({ now: c.now })
    store.claim('a')
    store.complete('a')
    c.advance(DEFAULT_DEDUPE_TTL_MS - 1)
    expect(store.claim('a')).toBe(false)
  })

  it('forgets keys after their TTL, counted from the last write', () => {
    const c = clock()
    const store = new MemoryDedupeStore({ ttlMs: 1000, now: c.now })
    store.claim('a')
    c.advance(600)
    store.complete('a') // refreshes: completion time counts
    c.advance(600)
    expect(store.claim('a')).toBe(false)
    c.advance(1001)
    expect(store.claim('a')).toBe(true)
  })

  it('drops expired keys as it goes, so memory follows traffic within the TTL', () => {
    const c = clock()
    const store = new MemoryDedupeStore({ ttlMs: 100, now: c.now })
    for (let i = 0; i < 1000; i++) store.claim(`k${i}`)
    expect(store.size).toBe(1000)
    c.advance(101)
    store.claim('new')
    expect(store.size).toBe(1)
  })

  it('is bounded by maxEntries, forgetting the key claimed longest ago', () => {
    const store = new MemoryDedupeStore({ maxEntries: 3 })
    for (const k of ['a', 'b', 'c']) store.claim(k)
    store.complete('a') // done, but still the oldest claim
    store.claim('d')
    expect(store.size).toBe(3)
    expect(store.claim('a')).toBe(true) // a was forgotten (re-claiming it now evicts b)
    expect(store.claim('c')).toBe(false)
    expect(store.claim('d')).toBe(false)
    expect(store.size).toBe(3)
  })

  it('stays bounded under a flood of distinct keys', () => {
    const store = new MemoryDedupeStore({ maxEntries: 100 })
    for (let i = 0; i < 100_000; i++) store.claim(`key-${i}`)
    expect(store.size).toBe(100)
  })

  it('rejects nonsense options', () => {
    expect(() => new MemoryDedupeStore({ ttlMs: 0 })).toThrow(/ttlMs/)
    expect(() => new MemoryDedupeStore({ maxEntries: 0 })).toThrow(/maxEntries/)
    expect(() => new MemoryDedupeStore({ maxEntries: 1.5 })).toThrow(/maxEntries/)
  })

  it('a released and re-claimed key keeps its new place in the eviction order', () => {
    const store = new MemoryDedupeStore({ maxEntries: 3 })
    store.claim('a')
    store.release('a')
    store.claim('b')
    store.claim('c')
    store.claim('a') // a's first slot is stale now
    store.claim('d') // over the limit: b is the oldest live key
    expect(store.claim('b')).toBe(true) // b was forgotten (and is now re-claimed, evicting c)
    expect(store.claim('a')).toBe(false)
    expect(store.claim('d')).toBe(false)
  })

  it('stays bounded when events keep failing (claim then release), and after completes', () => {
    const store = new MemoryDedupeStore({ maxEntries: 100 })
    for (let i = 0; i < 50_000; i++) {
      store.claim(`k${i}`)
      if (i % 2 === 0) store.release(`k${i}`)
      else store.complete(`k${i}`)
    }
    expect(store.size).toBe(100)
    expect(store.queueLength).toBeLessThanOrEqual(2 * 1024 + 2)
  })

})
