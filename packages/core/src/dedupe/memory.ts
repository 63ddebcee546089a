import type { DedupeStore } from './store.js'

export interface MemoryDedupeStoreOptions {
  /**
   * How long a key is remembered, in milliseconds. Default 7 days: long enough to recognise an event
   * that someone re-sends by hand from the Pocketsflow dashboard days later.
   */
  ttlMs?: number
  /**
   * At most this many keys (default 50 000: about 7 MB with the default 64-character keys, 11 MB with 200-character ones, measured). When full, the key claimed
   * longest ago is forgotten first; a re-delivery of a forgotten event would be processed again.
   */
  maxEntries?: number
  /** Clock in epoch milliseconds, for tests. */
  now?: () => number
}

export const DEFAULT_DEDUPE_TTL_MS = 7 * 24 * 60 * 60 * 1000
export const DEFAULT_DEDUPE_MAX_ENTRIES = 50_000

interface Entry {
  readonly key: string
  expiresAt: number
  /** Replaced (released, re-claimed after expiry) or dropped: its queue slot is skipped. */
  stale: boolean
}

/**
 * In-process dedupe: right for one instance. Every operation is O(1) amortised. Keys live in a Map
 * for lookup and their entries in a write-order queue for expiry and eviction; the queue, not the
 * Map's own iteration order, decides what goes first, because walking a Map from the front slows
 * down badly once many entries have been deleted there. The queue holds the entries themselves, so
 * evicting the front costs one Map delete and no lookup. Every key gets the same TTL from its
 * claim, so the front of the queue is (nearly: completing extends a key by its handlers' run time)
 * the next to expire.
 */
export class MemoryDedupeStore implements DedupeStore {
  readonly #entries = new Map<string, Entry>()
  // A queue with a moving head.
  #queue: Entry[] = []
  #head = 0
  /** The front key's expiry as last seen: nothing can expire before it, so claims skip the check. */
  #frontExpiresAt = 0
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
    return this.#entries.size
  }

  claim(key: string): boolean {
    const now = this.#now()
    this.#dropExpired(now)
    const entry = this.#entries.get(key)
    if (entry !== undefined) {
      if (entry.expiresAt > now) return false
      // Expired but not yet reached by the queue: its slot goes stale, the key starts afresh.
      entry.stale = true
    }
    this.#append(key, now)
    return true
  }

  complete(key: string): void {
    const now = this.#now()
    const entry = this.#entries.get(key)
    // Done: remembered for the full TTL from now. The key keeps its place in the queue (its
    // handlers took moments, not days), so completing costs no queue write.
    if (entry !== undefined) entry.expiresAt = now + this.#ttlMs
    else this.#append(key, now)
  }

  release(key: string): void {
    const entry = this.#entries.get(key)
    if (entry === undefined) return
    // Its queue slot goes stale and is skipped when it reaches the front.
    entry.stale = true
    this.#entries.delete(key)
  }

  #append(key: string, now: number): void {
    const entry: Entry = { key, expiresAt: now + this.#ttlMs, stale: false }
    this.#entries.set(key, entry)
    this.#queue.push(entry)
    if (this.#entries.size > this.#maxEntries) this.#evictOldest()
    this.#compact()
  }

  #dropExpired(now: number): void {
    if (now < this.#frontExpiresAt) return
    while (this.#head < this.#queue.length) {
      const entry = this.#queue[this.#head] as Entry
      if (!entry.stale) {
        if (entry.expiresAt > now) {
          this.#frontExpiresAt = entry.expiresAt
          return
        }
        this.#drop(entry)
      }
      this.#head++
    }
    this.#frontExpiresAt = 0
  }

  /** Drops the live key claimed longest ago (the store is over maxEntries). */
  #evictOldest(): void {
    while (this.#head < this.#queue.length) {
      const entry = this.#queue[this.#head++] as Entry
      if (entry.stale) continue
      this.#drop(entry)
      // Keys behind it were claimed later, so expire no sooner (as nearly as frontExpiresAt ever
      // is): a full store's next claim need not look at the front again.
      this.#frontExpiresAt = entry.expiresAt
      return
    }
  }

  #drop(entry: Entry): void {
    entry.stale = true
    this.#entries.delete(entry.key)
  }

  /**
   * Keeps the queue proportional to the live keys: consumed slots are cut once they are most of
   * the array, and stale ones (released keys, earlier writes of a key) once they outnumber the
   * live ones, so a flood of failing events can't grow memory past `maxEntries`. Amortised O(1).
   */
  #compact(): void {
    const pending = this.#queue.length - this.#head
    if (pending > 2 * Math.max(1024, this.#entries.size)) {
      this.#frontExpiresAt = 0
      const live: Entry[] = []
      for (let i = this.#head; i < this.#queue.length; i++) {
        const entry = this.#queue[i] as Entry
        if (!entry.stale) live.push(entry)
      }
      this.#queue = live
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }

  /** Queue slots held, live or stale: for tests of the memory bound. */
  get queueLength(): number {
    return this.#queue.length - this.#head
  }
}
