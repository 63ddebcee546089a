import type { ClaimResult, DedupeStore } from './store.js'

export interface MemoryDedupeStoreOptions {
  /**
   * How long a key is remembered, in milliseconds. Default 7 days: long enough to recognise an event
   * that someone re-sends by hand from the Pocketsflow dashboard days later.
   */
  ttlMs?: number
  /**
   * At most this many keys (default 50 000: about 6.5 MB with the default 64-character keys, up to
   * 7 MB while many are being released, 13 MB with 200-character ones, measured). When full, the
   * key claimed longest ago is forgotten first; a re-delivery of a forgotten event would be
   * processed again.
   */
  maxEntries?: number
  /** Clock in epoch milliseconds, for tests. */
  now?: () => number
}

export const DEFAULT_DEDUPE_TTL_MS = 7 * 24 * 60 * 60 * 1000
export const DEFAULT_DEDUPE_MAX_ENTRIES = 50_000

/** The smallest ring: a store starts with this and grows with the keys it holds. */
const MIN_CAPACITY = 16
/**
 * Event types remembered by number (a key's first type is one small integer beside it, not a string
 * per key). Senders have a few dozen types; past this many, further types are not remembered.
 */
const MAX_TYPES = 1024

/**
 * A 32-bit hash of a key (FNV-1a over its UTF-16 code units, then murmur3's finaliser, so that the
 * low bits the index uses depend on every character). Seeded at random per store, so that nobody
 * can pick keys that all land in one probe run of the index.
 */
function hashOf(key: string, seed: number): number {
  let h = seed
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return h ^ (h >>> 16)
}

/**
 * In-process dedupe: right for one instance. Every operation is O(1) amortised.
 *
 * Why not a `Map` of keys to expiry times (what this store was until measured): inside a busy
 * server, the HTTP stack evicts the store from the CPU caches between deliveries, and a full `Map`
 * of 50 000 string keys then costs some ten cache misses per delivery (its buckets, its chains,
 * the key strings compared along them, the boxed expiry numbers, and all of that again for the
 * oldest key it forgets). In a Fastify server that spent 24 µs per request without dedupe, it
 * added about 3 µs: most of the adapters' gap to a hand-written route. A bare `Map` costs as much
 * (the layout, not the bookkeeping around it). This one adds about half that, with a few misses:
 *
 * - The keys live in a ring, in claim order (`#head` is the oldest), with their expiry times and
 *   hashes in typed arrays beside it. New keys are written at the end and the oldest is forgotten
 *   from the front, so both touch memory that the previous delivery just touched. Completing
 *   updates an expiry in place (its handlers took moments, not days), so the front is both the key
 *   to evict and (nearly) the next to expire. A removed key leaves a gap (the key string itself
 *   is let go at once); the front skips gaps, and once the ring is full of keys and gaps it is
 *   rebuilt without them, at twice the keys it then holds. So every operation stays amortised
 *   O(1), and the arrays never outgrow about twice the most keys the store has held.
 * - An open-addressing index (linear probing, never more than half full) maps each key's hash to
 *   its ring position, as pairs of 32-bit numbers: looking a key up reads one cache line, and the
 *   key string itself only when the hashes are equal. Removing leaves no tombstones: the entries
 *   after it in the probe run are shifted back.
 */
export class MemoryDedupeStore implements DedupeStore {
  /** The ring of keys; `undefined` marks a gap left by a removed key. */
  #keys: (string | undefined)[] = []
  /** Each ring position's expiry time (epoch ms) and hash. */
  #expiries = new Float64Array(0)
  #hashes = new Int32Array(0)
  /** Each ring position's first type: an index into #typeNames plus one, 0 when not known. */
  #typeCodes = new Uint16Array(0)
  readonly #typeNames: string[] = []
  readonly #typeCodeOf = new Map<string, number>()
  /** Ring position of the oldest key (never a gap while the store holds any). */
  #head = 0
  /** Ring positions in use from #head, gaps included. */
  #length = 0
  /** Keys held. */
  #size = 0
  /** The index: for each slot, [ring position + 1 or 0 for an empty slot, the key's hash]. */
  #slots = new Int32Array(0)
  #mask = 0
  /** The front key's expiry as last seen: nothing can expire before it, so claims skip the sweep. */
  #frontExpiresAt = 0
  #seed: number | undefined = undefined
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
    this.#rebuild(MIN_CAPACITY)
  }

  /** Keys currently held, including expired ones not yet dropped (they go from the front, in claim order). */
  get size(): number {
    return this.#size
  }

  claim(key: string, type?: string): ClaimResult {
    const now = this.#now()
    if (now >= this.#frontExpiresAt) this.#dropExpired(now)
    const hash = this.#hash(key)
    const position = this.#livePosition(key, hash, now)
    if (position >= 0) {
      const code = this.#typeCodes[position] as number
      return code === 0 ? false : { firstType: this.#typeNames[code - 1] as string }
    }
    this.#append(key, hash, now + this.#ttlMs, type === undefined ? 0 : this.#typeCode(type))
    return true
  }

  complete(key: string): void {
    // Done: remembered for the full TTL from now. A live key keeps its place in the claim order;
    // one that expired meanwhile, or was forgotten, is remembered again as the newest.
    const now = this.#now()
    const hash = this.#hash(key)
    const position = this.#livePosition(key, hash, now)
    if (position >= 0) this.#expiries[position] = now + this.#ttlMs
    else this.#append(key, hash, now + this.#ttlMs, 0)
  }

  release(key: string): void {
    const slot = this.#find(key, this.#hash(key))
    if (slot >= 0) this.#remove(slot)
  }

  #typeCode(type: string): number {
    let code = this.#typeCodeOf.get(type)
    if (code === undefined) {
      if (this.#typeNames.length === MAX_TYPES) return 0
      code = this.#typeNames.push(type)
      this.#typeCodeOf.set(type, code)
    }
    return code
  }

  /**
   * The seed is drawn at the first call, not in the constructor: stores are often built when a
   * module loads, and some edge runtimes refuse random values outside a request.
   */
  #hash(key: string): number {
    if (this.#seed === undefined) this.#seed = (Math.random() * 0x1_0000_0000) | 0
    return hashOf(key, this.#seed)
  }

  /**
   * The ring position of `key` while it is live, or -1. An expired key (not swept yet) is removed
   * here, so that claiming or completing it starts afresh at the end, as a key never seen does:
   * left at the front, it would be the next evicted, though just written.
   */
  #livePosition(key: string, hash: number, now: number): number {
    const slot = this.#find(key, hash)
    if (slot < 0) return -1
    const position = (this.#slots[2 * slot] as number) - 1
    if ((this.#expiries[position] as number) > now) return position
    this.#remove(slot)
    return -1
  }

  /** The index slot holding `key`, or -1. */
  #find(key: string, hash: number): number {
    const slots = this.#slots
    const mask = this.#mask
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const position = slots[2 * slot] as number
      if (position === 0) return -1
      if (slots[2 * slot + 1] === hash && this.#keys[position - 1] === key) return slot
    }
  }

  /** The index slot of the key at a ring position (found by its hash, without reading the key). */
  #slotAt(position: number): number {
    const slots = this.#slots
    const mask = this.#mask
    let slot = (this.#hashes[position] as number) & mask
    while (slots[2 * slot] !== position + 1) slot = (slot + 1) & mask
    return slot
  }

  #append(key: string, hash: number, expiresAt: number, typeCode: number): void {
    // Evicting leaves frontExpiresAt as it is: it came from the evicted key or one claimed before
    // it, and the keys behind were claimed later, so they expire no sooner (as nearly as ever).
    if (this.#size === this.#maxEntries) this.#remove(this.#slotAt(this.#head))
    if (this.#length === this.#keys.length) this.#rebuild(Math.max(MIN_CAPACITY, 2 * this.#size))
    let position = this.#head + this.#length
    if (position >= this.#keys.length) position -= this.#keys.length
    this.#keys[position] = key
    this.#expiries[position] = expiresAt
    this.#hashes[position] = hash
    this.#typeCodes[position] = typeCode
    this.#length++
    this.#size++
    this.#index(position, hash)
  }

  #index(position: number, hash: number): void {
    const slots = this.#slots
    const mask = this.#mask
    let slot = hash & mask
    while (slots[2 * slot] !== 0) slot = (slot + 1) & mask
    slots[2 * slot] = position + 1
    slots[2 * slot + 1] = hash
  }

  /** Forgets the key in an index slot: a gap in the ring, and the index closes up behind it. */
  #remove(slot: number): void {
    const slots = this.#slots
    const mask = this.#mask
    this.#keys[(slots[2 * slot] as number) - 1] = undefined
    this.#size--
    // Backward-shift deletion: each later entry of the probe run whose home slot is at or before
    // the hole (cyclically) moves into it, so that lookups never stop early at an empty slot.
    let hole = slot
    for (let next = (slot + 1) & mask; slots[2 * next] !== 0; next = (next + 1) & mask) {
      const home = (slots[2 * next + 1] as number) & mask
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        slots[2 * hole] = slots[2 * next] as number
        slots[2 * hole + 1] = slots[2 * next + 1] as number
        hole = next
      }
    }
    slots[2 * hole] = 0
    slots[2 * hole + 1] = 0
    // Keep the front on a key: skip the gaps there.
    const capacity = this.#keys.length
    while (this.#length > 0 && this.#keys[this.#head] === undefined) {
      this.#head = this.#head + 1 === capacity ? 0 : this.#head + 1
      this.#length--
    }
  }

  #dropExpired(now: number): void {
    while (this.#size > 0) {
      const expiresAt = this.#expiries[this.#head] as number
      if (expiresAt > now) {
        this.#frontExpiresAt = expiresAt
        return
      }
      this.#remove(this.#slotAt(this.#head))
    }
    // Empty: the next claim sweeps again (and finds the key it adds, unexpired).
    this.#frontExpiresAt = 0
  }

  /** A new ring of `capacity` positions with the keys in claim order and no gaps, and a new index. */
  #rebuild(capacity: number): void {
    const keys = new Array<string | undefined>(capacity).fill(undefined)
    const expiries = new Float64Array(capacity)
    const hashes = new Int32Array(capacity)
    const typeCodes = new Uint16Array(capacity)
    let held = 0
    for (let i = 0, position = this.#head; i < this.#length; i++) {
      const key = this.#keys[position]
      if (key !== undefined) {
        keys[held] = key
        expiries[held] = this.#expiries[position] as number
        hashes[held] = this.#hashes[position] as number
        typeCodes[held] = this.#typeCodes[position] as number
        held++
      }
      position = position + 1 === this.#keys.length ? 0 : position + 1
    }
    // At most half full until the next rebuild: the ring can't hold more keys than its capacity,
    // nor the store more than maxEntries.
    let slotCount = MIN_CAPACITY
    while (slotCount < 2 * Math.min(capacity, this.#maxEntries)) slotCount *= 2
    this.#slots = new Int32Array(2 * slotCount)
    this.#mask = slotCount - 1
    this.#keys = keys
    this.#expiries = expiries
    this.#hashes = hashes
    this.#typeCodes = typeCodes
    this.#head = 0
    this.#length = held
    for (let position = 0; position < held; position++) this.#index(position, hashes[position] as number)
  }
}
