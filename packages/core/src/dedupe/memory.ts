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
  expiresAt: number
  /** Which write-order slot is this key's current one (older slots of the key are stale). */
  seq: number
}

/**
 * In-process dedupe: right for one instance. Every operation is O(1) amortised. Keys live in a Map
 * for lookup and in a write-order queue for expiry and eviction; the queue, not the Map's own
 * iteration order, decides what goes first, because walking a Map from the front slows down badly
 * once many entries have been deleted there. Every key gets the same TTL from its claim, so the
 * front of the queue is (nearly: completing extends a key by its handlers' run time) the next to
 * expire.
 */
export class MemoryDedupeStore implements DedupeStore {
  readonly #entries = new Map<string, Entry>()
  // A queue as two parallel arrays with a moving head: key and the seq it was written with.
  #queueKeys: string[] = []
  #queueSeqs: number[] = []
  #head = 0
  #seq = 0
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
    if (entry !== undefined && entry.expiresAt > now) return false
    this.#append(key, entry, now)
    return true
  }

  complete(key: string): void {
    const now = this.#now()
    const entry = this.#entries.get(key)
    // Done: remembered for the full TTL from now. The key keeps its place in the queue (its
    // handlers took moments, not days), so completing costs no queue write.
    if (entry !== undefined) entry.expiresAt = now + this.#ttlMs
    else this.#append(key, undefined, now)
  }

  release(key: string): void {
    // Its queue slot goes stale and is skipped when it reaches the front.
    this.#entries.delete(key)
  }

  #append(key: string, entry: Entry | undefined, now: number): void {
    const seq = ++this.#seq
    if (entry !== undefined) {
      entry.expiresAt = now + this.#ttlMs
      entry.seq = seq
    } else {
      this.#entries.set(key, { expiresAt: now + this.#ttlMs, seq })
    }
    this.#queueKeys.push(key)
    this.#queueSeqs.push(seq)
    if (this.#entries.size > this.#maxEntries) this.#shift(true)
    this.#compact()
  }

  #dropExpired(now: number): void {
    if (now < this.#frontExpiresAt) return
    while (this.#head < this.#queueKeys.length) {
      const entry = this.#entries.get(this.#queueKeys[this.#head] as string)
      // Stale slot (released, or rewritten later): skip it. Live and unexpired: stop.
      if (entry !== undefined && entry.seq === this.#queueSeqs[this.#head] && entry.expiresAt > now) {
        this.#frontExpiresAt = entry.expiresAt
        return
      }
      this.#shift(false)
    }
    this.#frontExpiresAt = 0
  }

  /** Removes the queue's front slot; with `evict`, keeps going until a live key was dropped. */
  #shift(evict: boolean): void {
    this.#frontExpiresAt = 0
    while (this.#head < this.#queueKeys.length) {
      const key = this.#queueKeys[this.#head] as string
      const seq = this.#queueSeqs[this.#head] as number
      this.#head++
      const entry = this.#entries.get(key)
      const live = entry !== undefined && entry.seq === seq
      if (live) {
        this.#entries.delete(key)
        // Keys behind it were claimed later, so expire no sooner (as nearly as frontExpiresAt
        // ever is): a full store's next claim need not look at the front again.
        if (evict) this.#frontExpiresAt = entry.expiresAt
      }
      if (live || !evict) return
    }
  }

  /**
   * Keeps the queue proportional to the live keys: consumed slots are cut once they are most of
   * the arrays, and stale ones (released keys, earlier writes of a key) once they outnumber the
   * live ones, so a flood of failing events can't grow memory past `maxEntries`. Amortised O(1).
   */
  #compact(): void {
    const pending = this.#queueKeys.length - this.#head
    if (pending > 2 * Math.max(1024, this.#entries.size)) {
      this.#frontExpiresAt = 0
      const keys: string[] = []
      const seqs: number[] = []
      for (let i = this.#head; i < this.#queueKeys.length; i++) {
        const key = this.#queueKeys[i] as string
        if (this.#entries.get(key)?.seq === this.#queueSeqs[i]) {
          keys.push(key)
          seqs.push(this.#queueSeqs[i] as number)
        }
      }
      this.#queueKeys = keys
      this.#queueSeqs = seqs
      this.#head = 0
    } else if (this.#head > 1024 && this.#head * 2 > this.#queueKeys.length) {
      this.#queueKeys = this.#queueKeys.slice(this.#head)
      this.#queueSeqs = this.#queueSeqs.slice(this.#head)
      this.#head = 0
    }
  }

  /** Queue slots held, live or stale: for tests of the memory bound. */
  get queueLength(): number {
    return this.#queueKeys.length - this.#head
  }
}
