import type { DedupeStore } from './store.js'

export interface MemoryDedupeStoreOptions {
  /**
   * How long a key is remembered, in milliseconds. Default 7 days: long enough to recognise an event
   * that someone re-sends by hand from the Pocketsflow dashboard days later.
   */
  ttlMs?: number
  /**
   * At most this many keys (default 50 000: about 9 MB with the default 64-character keys, up to 13 MB while many are being released, 16 MB with 200-character ones, measured). When full, the key claimed
   * longest ago is forgotten first; a re-delivery of a forgotten event would be processed again.
   */
  maxEntries?: number
  /** Clock in epoch milliseconds, for tests. */
  now?: () => number
}

export const DEFAULT_DEDUPE_TTL_MS = 7 * 24 * 60 * 60 * 1000
export const DEFAULT_DEDUPE_MAX_ENTRIES = 50_000

/**
 * In-process dedupe: right for one instance. Every operation is O(1) amortised. A key's expiry
 * time is its value in one Map, and the Map's insertion order is the claim order: a claim inserts
 * at the end, a re-claim or a release deletes first, and completing updates in place. So the front
 * of the Map is the key claimed longest ago, which is both the one to evict and (nearly: completing
 * extends a key by its handlers' run time) the next to expire.
 *
 * The front is read through one iterator kept for the store's life, not a fresh `keys()` each
 * time: deleted entries leave holes at the front of V8's table until it is rebuilt, and a fresh
 * iterator walks every hole, so evicting that way slows down to tens of microseconds on a full
 * store. A kept iterator walks each hole once. Map iterators are live by specification: they see
 * keys added after them and skip deleted ones. But an iterator left where it is holds on to every
 * table V8 has since rebuilt the Map into (and the keys in them) until it next moves: a store
 * that is not full and not expiring anything, under a stream of claims and releases, would grow
 * without bound. So an iterator that has not moved for as many writes as the store holds keys
 * (at least 1024) is replaced; the next read from the front walks the holes once, which those
 * writes pay for.
 */
export class MemoryDedupeStore implements DedupeStore {
  readonly #expiries = new Map<string, number>()
  #iterator: MapIterator<string> = this.#expiries.keys()
  /** The key the iterator returned last, while it is still remembered: every key before it is gone. */
  #front: string | undefined = undefined
  /** The front key's expiry as last seen: nothing can expire before it, so claims skip the sweep. */
  #frontExpiresAt = 0
  /** Writes since the iterator last moved. */
  #writesSinceMove = 0
  readonly #ttlMs: number
  readonly #maxEntries: number
  readonly #now: () => number

  constructor(options: MemoryDedupeStoreOptions = {}) {
    const { ttlMs = DEFAULT_DEDUPE_TTL_MS, maxEntries = DEFAULT_DEDUPE_MAX_ENTRIES } = options
    if (!(ttlMs > 0)) throw new TypeError('pocketsflow-webhooks: MemoryDedupeStore "ttlMs" must be > 0')
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError('pocketsflow-webhooks: MemoryDedupeStore "maxEntries" must be an integer >= 1')
    }
    this.#ttlMs = ttlMs
    this.#maxEntries = maxEntries
    this.#now = options.now ?? Date.now
  }

  /** Keys currently held, including expired ones not yet dropped (they go from the front, in claim order). */
  get size(): number {
    return this.#expiries.size
  }

  claim(key: string): boolean {
    const now = this.#now()
    if (now >= this.#frontExpiresAt) this.#dropExpired(now)
    const expiresAt = this.#expiries.get(key)
    if (expiresAt !== undefined && expiresAt > now) return false
    this.#renew(key, expiresAt, now)
    return true
  }

  complete(key: string): void {
    // Done: remembered for the full TTL from now. A live key keeps its place in the claim order
    // (its handlers took moments, not days).
    const now = this.#now()
    this.#renew(key, this.#expiries.get(key), now)
  }

  release(key: string): void {
    if (this.#expiries.has(key)) this.#forget(key)
  }

  /**
   * Remembers the key for the TTL from now (`expiresAt`: its current expiry, if the store holds
   * it). One that expired (not yet swept) starts afresh at the end of the claim order, as a key
   * never seen does: left at the front, it would be the next evicted, though just claimed or
   * completed.
   */
  #renew(key: string, expiresAt: number | undefined, now: number): void {
    if (expiresAt !== undefined && expiresAt <= now) this.#forget(key)
    this.#expiries.set(key, now + this.#ttlMs)
    // Evicting leaves frontExpiresAt as it is: it came from the evicted key or one claimed before
    // it, and the keys behind were claimed later, so they expire no sooner (as nearly as ever).
    if (this.#expiries.size > this.#maxEntries) this.#forget(this.#oldest() as string)
    else if (++this.#writesSinceMove > Math.max(1024, this.#expiries.size)) {
      this.#iterator = this.#expiries.keys()
      this.#front = undefined
      this.#writesSinceMove = 0
    }
  }

  #forget(key: string): void {
    // A key moved to the end (re-claimed) or gone is no longer where the iterator left the front.
    if (key === this.#front) this.#front = undefined
    this.#expiries.delete(key)
  }

  /** The key claimed longest ago, or undefined when the store is empty. */
  #oldest(): string | undefined {
    if (this.#front !== undefined) return this.#front
    this.#writesSinceMove = 0
    let next = this.#iterator.next()
    // A finished iterator stays finished, even for keys added later: start a new one.
    if (next.done === true) {
      this.#iterator = this.#expiries.keys()
      next = this.#iterator.next()
    }
    this.#front = next.done === true ? undefined : next.value
    return this.#front
  }

  #dropExpired(now: number): void {
    for (let key = this.#oldest(); key !== undefined; key = this.#oldest()) {
      const expiresAt = this.#expiries.get(key) as number
      if (expiresAt > now) {
        this.#frontExpiresAt = expiresAt
        return
      }
      this.#forget(key)
    }
    // Empty: the next claim sweeps again (and finds the key it adds, unexpired).
    this.#frontExpiresAt = 0
  }
}
