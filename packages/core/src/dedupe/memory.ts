import type { DedupeStore } from './store.js'

export interface MemoryDedupeStoreOptions {
  /**
   * How long a key is remembered, in milliseconds. Default 7 days: long enough to recognise an event
   * that someone re-sends by hand from the Pocketsflow dashboard days later.
   */
  ttlMs?: number
  /**
   * At most this many keys (default 50 000: about 7 MB with the default 64-character keys, 11 MB with 200-character ones, measured). When full, the key written
   * longest ago is forgotten first; a re-delivery of a forgotten event would be processed again.
   */
  maxEntries?: number
  /** Clock in epoch milliseconds, for tests. */
  now?: () => number
}

export const DEFAULT_DEDUPE_TTL_MS = 7 * 24 * 60 * 60 * 1000
export const DEFAULT_DEDUPE_MAX_ENTRIES = 50_000

/**
 * In-process dedupe: right for one instance. Every operation is O(1) amortised: a Map keeps keys in
 * write order, and since every key lives for the same TTL, the oldest write is always the next to
 * expire, so expiry and eviction only ever look at the front.
 */
export class MemoryDedupeStore implements DedupeStore {
  readonly #expiresAt = new Map<string, number>()
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

  /** Keys currently remembered (expired ones may linger until the next write). */
  get size(): number {
    return this.#expiresAt.size
  }

  claim(key: string): boolean {
    const now = this.#now()
    this.#expire(now)
    const expiresAt = this.#expiresAt.get(key)
    if (expiresAt !== undefined && expiresAt > now) return false
    this.#write(key, now)
    return true
  }

  complete(key: string): void {
    this.#write(key, this.#now())
  }

  release(key: string): void {
    this.#expiresAt.delete(key)
  }

  #write(key: string, now: number): void {
    // Delete first so the key moves to the back of the write order.
    this.#expiresAt.delete(key)
    this.#expiresAt.set(key, now + this.#ttlMs)
    if (this.#expiresAt.size > this.#maxEntries) {
      const oldest = this.#expiresAt.keys().next()
      if (!oldest.done) this.#expiresAt.delete(oldest.value)
    }
  }

  #expire(now: number): void {
    for (const [key, expiresAt] of this.#expiresAt) {
      if (expiresAt > now) return
      this.#expiresAt.delete(key)
    }
  }
}
