import v8 from 'node:v8'
import vm from 'node:vm'
import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import { DEFAULT_DEDUPE_TTL_MS, MemoryDedupeStore } from '../../src/index.js'

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

  it('draws its random hash seed at the first call, not when built (edge runtimes refuse it at module load)', () => {
    const random = vi.spyOn(Math, 'random')
    try {
      const store = new MemoryDedupeStore()
      expect(random).not.toHaveBeenCalled()
      expect(store.claim('a')).toBe(true)
      expect(store.claim('a')).toBe(false)
      expect(random).toHaveBeenCalledTimes(1)
    } finally {
      random.mockRestore()
    }
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
    expect(store.claim('k49999')).toBe(false) // completed last: still remembered
    expect(store.claim('k49900')).toBe(true) // released: forgotten
  })

  it('does not grow under claims and releases while nothing is evicted or expires', () => {
    // What a stream of failing events does to a store that is far from full, within the TTL.
    v8.setFlagsFromString('--expose-gc')
    const gc = vm.runInNewContext('gc') as () => void
    const store = new MemoryDedupeStore()
    store.claim('a')
    store.claim('b')
    gc()
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < 500_000; i++) {
      store.claim(`k${i}`)
      store.release(`k${i}`)
    }
    gc()
    // Measured: about 40 MB when stale Map tables were kept, under 1 MB without them.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(10_000_000)
    expect(store.size).toBe(2)
    expect(store.claim('a')).toBe(false)
  })

  it('still forgets the oldest key first after a long run of claims and releases', () => {
    const store = new MemoryDedupeStore({ maxEntries: 3 })
    store.claim('a')
    store.claim('b')
    for (let i = 0; i < 5000; i++) {
      store.claim(`k${i}`)
      store.release(`k${i}`)
    }
    store.claim('c')
    store.claim('d') // over the limit: a goes
    expect(store.claim('b')).toBe(false)
    expect(store.claim('a')).toBe(true)
  })

  it('moves a key re-claimed after its TTL to the end of the claim order', () => {
    const c = clock()
    const store = new MemoryDedupeStore({ ttlMs: 10, maxEntries: 3, now: c.now })
    store.claim('a')
    c.advance(1)
    store.claim('b')
    c.advance(1)
    store.claim('c')
    c.advance(3)
    store.complete('a') // a lives on, so nothing is swept: b and c stay, expired, behind it
    c.advance(7)
    expect(store.claim('b')).toBe(true) // expired: new again, now the newest claim
    store.claim('d') // over the limit: a goes (the oldest claim), not b
    store.claim('e') // and then c
    expect(store.claim('b')).toBe(false)
    expect(store.claim('a')).toBe(true)
  })

  it('remembers a key completed after its TTL as the newest one, not the next to evict', () => {
    const c = clock()
    const store = new MemoryDedupeStore({ ttlMs: 10, maxEntries: 2, now: c.now })
    store.claim('a')
    store.claim('b')
    c.advance(11) // the handlers of a ran past the TTL
    store.complete('a')
    store.complete('c') // over the limit: the expired b goes, not a
    expect(store.claim('a')).toBe(false)
    expect(store.claim('c')).toBe(false)
  })

  it('completing a key that was forgotten meanwhile remembers it again, still within maxEntries', () => {
    const store = new MemoryDedupeStore({ maxEntries: 2 })
    store.claim('a')
    store.claim('b')
    store.claim('c') // evicts a, whose handlers are still running
    store.complete('a') // back, as the newest key: b goes
    expect(store.size).toBe(2)
    expect(store.claim('a')).toBe(false)
    expect(store.claim('c')).toBe(false)
    expect(store.claim('b')).toBe(true)
  })

  it('keeps evicting in claim order after it has emptied and refilled', () => {
    const c = clock()
    const store = new MemoryDedupeStore({ ttlMs: 100, maxEntries: 3, now: c.now })
    for (const k of ['a', 'b', 'c', 'd']) store.claim(k)
    c.advance(101)
    store.claim('e') // sweeps every other key: the store had only e
    expect(store.size).toBe(1)
    for (const k of ['f', 'g', 'h']) store.claim(k) // over the limit: e goes, then nothing else
    expect(store.size).toBe(3)
    expect(store.claim('e')).toBe(true) // forgotten; re-claiming it evicts f
    expect(store.claim('f')).toBe(true)
    expect(store.claim('h')).toBe(false)
  })

  // The rules, written as plainly as possible over an array in claim order: the store must answer
  // every claim the same way and hold as many keys, whatever the sequence of calls.
  function answersLikeAList(keyCount: number, maxEntries: fc.Arbitrary<number>, maxLength: number, waitWeight = 1) {
    const key = fc.integer({ min: 0, max: keyCount - 1 })
    const op = fc.oneof(
      { arbitrary: fc.record({ kind: fc.constant('claim' as const), key }), weight: 3 },
      { arbitrary: fc.record({ kind: fc.constant('complete' as const), key }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('release' as const), key }), weight: 1 },
      {
        arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.oneof(fc.integer({ min: 0, max: 60 }), fc.constantFrom(99, 100, 101)) }),
        weight: waitWeight,
      },
    )
    return fc.property(maxEntries, fc.array(op, { maxLength }), (maxEntries, ops) => {
      const c = clock(1000)
      const ttlMs = 100
      const store = new MemoryDedupeStore({ ttlMs, maxEntries, now: c.now })
      let list: { key: string; expiresAt: number }[] = []
      let frontExpiresAt = 0
      const write = (key: string, expiresAt: number) => {
        const entry = list.find((e) => e.key === key)
        if (entry) entry.expiresAt = expiresAt
        else list.push({ key, expiresAt })
        if (list.length > maxEntries) list.shift()
      }
      for (const o of ops) {
        if (o.kind === 'wait') {
          c.advance(o.ms)
          continue
        }
        const key = `k${o.key}`
        const now = c.now()
        if (o.kind === 'claim') {
          // Expired keys are swept from the front, up to the first live one.
          if (now >= frontExpiresAt) {
            while (list.length > 0 && (list[0] as { expiresAt: number }).expiresAt <= now) list.shift()
            frontExpiresAt = list[0]?.expiresAt ?? 0
          }
          const entry = list.find((e) => e.key === key)
          const expected = !(entry && entry.expiresAt > now)
          if (expected) {
            list = list.filter((e) => e.key !== key)
            write(key, now + ttlMs)
          }
          expect(store.claim(key)).toBe(expected)
        } else if (o.kind === 'complete') {
          list = list.filter((e) => e.key !== key || e.expiresAt > now)
          write(key, now + ttlMs)
          store.complete(key)
        } else {
          list = list.filter((e) => e.key !== key)
          store.release(key)
        }
        expect(store.size).toBe(list.length)
        expect(store.size).toBeLessThanOrEqual(maxEntries)
      }
    })
  }

  it('answers like a plain list kept in claim order, for any sequence of calls', () => {
    fc.assert(answersLikeAList(4, fc.integer({ min: 1, max: 3 }), 60, 3), {
      numRuns: 500,
      // Evicting a key completed after the sweep last saw it, then making room: a store that
      // trusted the evicted key's expiry would skip the sweep that forgets b.
      examples: [
        [
          2,
          [
            { kind: 'claim', key: 0 },
            { kind: 'wait', ms: 10 },
            { kind: 'claim', key: 1 },
            { kind: 'wait', ms: 40 },
            { kind: 'complete', key: 0 },
            { kind: 'wait', ms: 10 },
            { kind: 'claim', key: 2 },
            { kind: 'release', key: 2 },
            { kind: 'wait', ms: 60 },
            { kind: 'claim', key: 3 },
          ],
        ],
      ],
    })
  })

  // More keys than the smallest ring and index hold: the store grows, rebuilds its ring without the
  // gaps that releases leave, and its index has long probe runs to close up behind removed keys.
  it('answers like the list too while it grows, rebuilds and evicts, with many keys', () => {
    fc.assert(answersLikeAList(80, fc.integer({ min: 1, max: 60 }), 600), { numRuns: 150 })
  })

  it('remembers exactly the newest keys after a flood far past maxEntries', () => {
    const store = new MemoryDedupeStore({ maxEntries: 1000 })
    for (let i = 0; i <= 20_000; i++) {
      expect(store.claim(`event-${i}`)).toBe(true)
      if (i % 7 === 0) store.release(`event-${i}`)
      else store.complete(`event-${i}`)
    }
    expect(store.size).toBe(1000)
    let remembered = 0
    for (let i = 20_000; i >= 0 && remembered < 1000; i--) {
      if (i % 7 === 0) continue
      remembered++
      expect(store.claim(`event-${i}`)).toBe(false)
    }
    // Claiming a forgotten key takes the oldest remembered one's place.
    expect(store.claim('event-0')).toBe(true)
    expect(store.size).toBe(1000)
  })
})
