import { randomUUID } from 'node:crypto'
import type { DedupeStore } from '@pocketsflow-webhooks/core'
import type { Redis } from 'ioredis'
import { closeClient, createClient, isRedisInstance, usable } from './connection.js'

export const DEFAULT_DEDUPE_PREFIX = 'pocketsflow-webhooks:dedupe:'
export const DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000
export const DEFAULT_PENDING_TTL_MS = 10 * 60 * 1000

export interface RedisDedupeStoreOptions {
  /** Redis URL (default `redis://127.0.0.1:6379`). Ignored when `client` is given. */
  url?: string
  /** Your ioredis instance: used as is and not closed by `close()`. */
  client?: Redis
  /** Key prefix (default `pocketsflow-webhooks:dedupe:`). */
  prefix?: string
  /** How long a handled event id is remembered (default 7 days). */
  retentionMs?: number
  /**
   * How long a claim lasts while its handlers run (default 10 minutes). A process that dies
   * mid-handler never completes or releases its claim: after this long a re-send of the event is
   * processed again instead of being answered "duplicate" for the whole retention. Make it longer
   * than your handlers' attempts and retries take together.
   */
  pendingTtlMs?: number
}

const DONE = 'done'

// Compare-and-delete: a release must only drop its own claim still in progress. Once the event is
// done (this process or another completed it), the id must stay remembered; and once this claim
// expired and another process claimed the id, that claim is not ours to drop.
const RELEASE_OWN_CLAIM = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`

/**
 * A dedupe store shared by every receiver on the same Redis, for the in-process dispatcher
 * (`dedupe: redisDedupeStore({ url })`). With a durable inbox you don't need it: the inbox dedupes.
 */
export function redisDedupeStore(options: RedisDedupeStoreOptions = {}): DedupeStore {
  if (options === null || typeof options !== 'object') throw new TypeError('redisDedupeStore: options must be an object')
  const prefix = options.prefix ?? DEFAULT_DEDUPE_PREFIX
  const retentionMs = positive('retentionMs', options.retentionMs, DEFAULT_RETENTION_MS)
  const pendingTtlMs = positive('pendingTtlMs', options.pendingTtlMs, DEFAULT_PENDING_TTL_MS)
  let client: Redis
  let owned: boolean
  if (options.client !== undefined) {
    if (!isRedisInstance(options.client)) throw new TypeError('redisDedupeStore: "client" must be an ioredis instance')
    client = options.client
    owned = false
  } else {
    client = createClient({ url: options.url }, 'command', 'pocketsflow-webhooks:dedupe')
    owned = true
  }
  let closed = false
  // Each claim's value names its owner, so a release removes only the claim this store made.
  const owner = `pending:${randomUUID()}:`
  let claims = 0
  /** Claims of this store still in progress: key → the value written. */
  const mine = new Map<string, string>()

  return {
    async claim(key) {
      if (closed) throw new Error('redisDedupeStore: closed')
      if (owned) await usable(client)
      const value = owner + ++claims
      // Atomic across every process: exactly one SET NX wins. The bounded TTL is what frees the id
      // if the winner dies before it completes or releases.
      const won = (await client.set(prefix + key, value, 'PX', pendingTtlMs, 'NX')) === 'OK'
      if (won) mine.set(key, value)
      return won
    },
    async complete(key) {
      mine.delete(key)
      if (owned) await usable(client)
      await client.set(prefix + key, DONE, 'PX', retentionMs)
    },
    async release(key) {
      const value = mine.get(key)
      mine.delete(key)
      if (value === undefined) return
      if (owned) await usable(client)
      await client.eval(RELEASE_OWN_CLAIM, 1, prefix + key, value)
    },
    async close() {
      if (closed) return
      closed = true
      if (owned) await closeClient(client)
    },
  }
}

export function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`pocketsflow-webhooks: "${name}" must be a positive number of milliseconds, got ${String(value)}`)
  }
  return value
}
