import { createHash, randomUUID } from 'node:crypto'
import type { ClaimResult, DedupeStore } from '@pocketsflow-webhooks/core'
import { DEFAULT_RETENTION_MS, positiveNumber, sleep } from '@pocketsflow-webhooks/core/inbox'
import { ReplyError, type Redis } from 'ioredis'
import { closeClient, createClient, isRedisInstance, usable, type IoredisClient } from './connection.js'

export const DEFAULT_DEDUPE_PREFIX = 'pocketsflow-webhooks:dedupe:'
/** How long an event id is remembered: the core's, for every engine (shared with the BullMQ inbox). */
export { DEFAULT_RETENTION_MS }
export const DEFAULT_PENDING_TTL_MS = 10 * 60 * 1000

export interface RedisDedupeStoreOptions {
  /** Redis URL (default `redis://127.0.0.1:6379`). Ignored when `client` is given. */
  url?: string
  /** Your ioredis instance: used as is and not closed by `close()`. */
  client?: IoredisClient
  /** Key prefix (default `pocketsflow-webhooks:dedupe:`). */
  prefix?: string
  /**
   * How long a handled event id is remembered (default 30 days). A delivery of the same body within
   * it is a duplicate, even one replayed with a fresh timestamp (Pocketsflow does not sign the
   * timestamp); after it, such a replay is processed again.
   */
  retentionMs?: number
  /**
   * How long a claim lasts while its handlers run (default 10 minutes). A process that dies
   * mid-handler never completes or releases its claim: after this long a re-send of the event is
   * processed again instead of being answered "duplicate" for the whole retention. Make it longer
   * than your handlers' attempts and retries take together.
   */
  pendingTtlMs?: number
}

// Values of an id's key: `pending:<store>:<n>:<type>` while a claim's handlers run, `done:<type>`
// once they succeeded. The type is the one the id was first claimed with, so a duplicate can say it.
// Earlier versions wrote `pending:<store>:<n>` and `done`: still duplicates, of an unknown type.
const DONE = 'done'
const DONE_WITH_TYPE = 'done:'
const PENDING_WITH_TYPE = /^pending:[^:]*:\d+:/

// The claim, idempotent for its own value. ioredis re-sends a command whose reply a dropped
// connection lost; a plain SET NX would then find the key its first try wrote and answer
// "duplicate" for an event nobody handles. This sets the key when it is absent, or holds this very
// claim's value, or the value of one of this store's earlier claims of the id that failed (ARGV[3..]:
// they may have landed, and nobody handles them). Anything else, including a concurrent claim of
// the same id by this store, is someone else's claim: returned, so the duplicate can name its type.
const CLAIM = `local current = redis.call('GET', KEYS[1])
if current then
  local ours = current == ARGV[1]
  for i = 3, #ARGV do
    if current == ARGV[i] then ours = true end
  end
  if not ours then return current end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`
const CLAIM_SHA = createHash('sha1').update(CLAIM).digest('hex')

// Compare-and-delete: a release must only drop its own claim still in progress. Once the event is
// done (this process or another completed it), the id must stay remembered; and once this claim
// expired and another process claimed the id, that claim is not ours to drop. Takes several values
// for undoing failed claims: whichever of them is there.
const RELEASE_OWN_CLAIM = `local current = redis.call('GET', KEYS[1])
for i = 1, #ARGV do
  if current == ARGV[i] then return redis.call('DEL', KEYS[1]) end
end
return 0`

/**
 * Failed claims remembered (see `uncertain` below). The bound matters only while Redis is
 * unreachable, when every claim fails; past it, a failed claim that did land holds its id for
 * `pendingTtlMs` at most.
 */
const MAX_UNCERTAIN_IDS = 10_000
/** Per id: re-sends of one event during an outage; the first failures are the likeliest to have landed. */
const MAX_UNCERTAIN_PER_ID = 8

interface OwnClaim {
  readonly value: string
  readonly type: string | undefined
}

interface Uncertain {
  readonly values: string[]
  /** After this (epoch ms), none of the values can still be in Redis: their TTL has run out. */
  until: number
}

/**
 * A dedupe store shared by every receiver on the same Redis, for the in-process dispatcher
 * (`dedupe: redisDedupeStore({ url })`). With a durable inbox you don't need it: the inbox dedupes.
 * @example
 * ```ts
 * app.use(pocketsflowWebhook({ secret, on, dedupe: redisDedupeStore({ url: process.env.REDIS_URL }) }))
 * ```
 */
export function redisDedupeStore(options: RedisDedupeStoreOptions = {}): DedupeStore {
  if (options === null || typeof options !== 'object') throw new TypeError('pocketsflow-webhooks: redisDedupeStore: options must be an object')
  const prefix = options.prefix ?? DEFAULT_DEDUPE_PREFIX
  const retentionMs = positiveNumber('retentionMs', options.retentionMs, DEFAULT_RETENTION_MS)
  const pendingTtlMs = positiveNumber('pendingTtlMs', options.pendingTtlMs, DEFAULT_PENDING_TTL_MS)
  let client: Redis
  let owned: boolean
  if (options.client !== undefined) {
    if (!isRedisInstance(options.client)) throw new TypeError('pocketsflow-webhooks: redisDedupeStore: "client" must be an ioredis instance')
    // Of the client's own ioredis major; both have the commands this store uses.
    client = options.client as Redis
    owned = false
  } else {
    client = createClient({ url: options.url }, 'command', 'pocketsflow-webhooks:dedupe')
    owned = true
  }
  let closed = false
  // Each claim's value names its owner and is unique, so a release removes only the claim this
  // store made, and two claims of one id by this store never both win.
  const owner = `pending:${randomUUID()}:`
  let claims = 0
  /** Claims of this store still in progress: id → the value written and the event type. */
  const mine = new Map<string, OwnClaim>()
  /**
   * Claims (and releases) of this store that failed: a rejected command may have run all the same,
   * leaving a pending claim nobody handles. Undone as soon as Redis is reachable again, and this
   * store's next claim of the id takes them over. Once a script has seen an id not holding one of
   * these values, that value can't appear there any more: ioredis re-sends a failed command only
   * when its failure was a client-side timeout, and then ahead of what this store sends next on the
   * connection (it re-sends before it emits `ready`, the signal for the undo). In insertion order,
   * which is `until` order.
   */
  const uncertain = new Map<string, Uncertain>()

  function rememberUncertain(key: string, value: string): void {
    const now = Date.now()
    let entry = uncertain.get(key)
    if (entry === undefined) {
      if (uncertain.size >= MAX_UNCERTAIN_IDS) forgetExpired(now)
      if (uncertain.size >= MAX_UNCERTAIN_IDS) return
      entry = { values: [], until: 0 }
    } else {
      uncertain.delete(key)
    }
    if (entry.values.length < MAX_UNCERTAIN_PER_ID) entry.values.push(value)
    // The command can't have landed after it failed, so its key expires by then.
    entry.until = now + pendingTtlMs
    uncertain.set(key, entry)
    if (client.status === 'ready') void undoUncertain()
  }

  function forgetExpired(now: number): void {
    for (const [key, entry] of uncertain) {
      if (entry.until > now) return
      uncertain.delete(key)
    }
  }

  function uncertainValues(key: string): string[] {
    const entry = uncertain.get(key)
    if (entry === undefined) return []
    if (entry.until <= Date.now()) {
      uncertain.delete(key)
      return []
    }
    return entry.values.slice()
  }

  /** A script that ran with these values has replaced them or seen the id hold another. */
  function settleUncertain(key: string, values: readonly string[]): void {
    if (values.length === 0) return
    const entry = uncertain.get(key)
    if (entry === undefined) return
    const left = entry.values.filter((value) => !values.includes(value))
    if (left.length === 0) uncertain.delete(key)
    else entry.values.splice(0, entry.values.length, ...left)
  }

  let undoing = false
  let undoAgain = false
  /** Compare-and-delete every failed claim; those that fail again wait for the next `ready`. */
  async function undoUncertain(): Promise<void> {
    if (undoing) {
      undoAgain = true
      return
    }
    undoing = true
    try {
      do {
        undoAgain = false
        forgetExpired(Date.now())
        await Promise.all(
          Array.from(uncertain, ([key, entry]) => {
            const values = entry.values.slice()
            return client.eval(RELEASE_OWN_CLAIM, 1, prefix + key, ...values).then(
              () => settleUncertain(key, values),
              () => {},
            )
          }),
        )
      } while (undoAgain && client.status === 'ready')
    } finally {
      undoing = false
    }
  }

  /**
   * Completions that failed: the id stays "pending" and expires after `pendingTtlMs`, after which a
   * replay of the body would run again. Written again as soon as Redis is reachable (id → value).
   */
  const uncompleted = new Map<string, string>()

  async function completeAgain(): Promise<void> {
    for (const [key, value] of [...uncompleted]) {
      try {
        await client.set(prefix + key, value, 'PX', retentionMs)
        if (uncompleted.get(key) === value) uncompleted.delete(key)
      } catch {
        return // still unreachable: the next `ready` tries again
      }
    }
  }

  /**
   * Asks a claim's question again each time Redis is reachable, until it is answered, the store
   * closes, or the connection has ended for good (a client of yours that gave up reconnecting).
   */
  async function claimOnceReachable(key: string, value: string, takeOver: string[], firstError: unknown): Promise<unknown> {
    let error = firstError
    for (let wait = 50; !closed && client.status !== 'end'; wait = Math.min(wait * 2, 1000)) {
      if (client.status !== 'ready') await nextReady()
      if (closed || client.status !== 'ready') continue
      try {
        return await runClaim(client, prefix + key, value, pendingTtlMs, takeOver)
      } catch (again) {
        // Redis answered with an error of its own: the claim did not run this time, and asking
        // again at once would only repeat it. The first try's fate is what is still unknown.
        if (!mayHaveRun(again)) throw again
        error = again
        await sleep(wait)
      }
    }
    // Unanswered: undone once Redis is reachable, if it ever is.
    rememberUncertain(key, value)
    throw error
  }

  /** One wait for the next `ready` (or the end of the connection, or close()) shared by every claim waiting. */
  let readyWait: Promise<void> | undefined
  function nextReady(): Promise<void> {
    readyWait ??= new Promise<void>((resolve) => {
      const done = () => {
        client.off('ready', done)
        client.off('end', done)
        clearInterval(check)
        readyWait = undefined
        resolve()
      }
      client.once('ready', done)
      client.once('end', done)
      // close() emits nothing on a client of yours: look now and then.
      const check = setInterval(() => closed && done(), 200)
      check.unref()
    })
    return readyWait
  }

  const onReady = () => {
    if (uncertain.size > 0) void undoUncertain()
    if (uncompleted.size > 0) void completeAgain()
  }
  client.on('ready', onReady)

  return {
    async claim(key, type) {
      if (closed) throw new Error('pocketsflow-webhooks: redisDedupeStore: closed')
      if (owned) await usable(client)
      const typed = typeof type === 'string' && type !== '' ? type : undefined
      const value = owner + ++claims + (typed === undefined ? '' : `:${typed}`)
      const takeOver = uncertainValues(key)
      // Atomic across every process: exactly one claim wins. The bounded TTL is what frees the id
      // if the winner dies before it completes or releases.
      let current: unknown
      try {
        current = await runClaim(client, prefix + key, value, pendingTtlMs, takeOver)
      } catch (error) {
        // Never sent (the connection was already down), or answered by Redis with an error of its
        // own: nothing landed, the delivery gets its 503.
        if (!mayHaveRun(error)) throw error
        // Sent, and its answer lost with the connection: it may have landed. The answer is still
        // owed, so it is asked for again (the script is idempotent for this value) until Redis
        // answers: a claim that landed is then reported won, late if need be, and the receiver
        // processes the event. Undone instead, a re-send answered "duplicate" meanwhile by another
        // instance would be lost.
        current = await claimOnceReachable(key, value, takeOver, error)
      }
      settleUncertain(key, takeOver)
      if (current === 1) {
        mine.set(key, { value, type: typed })
        return true
      }
      return duplicateOf(current)
    },
    async complete(key) {
      const claim = mine.get(key)
      mine.delete(key)
      const value = claim?.type === undefined ? DONE : DONE_WITH_TYPE + claim.type
      try {
        if (owned) await usable(client)
        await client.set(prefix + key, value, 'PX', retentionMs)
      } catch (error) {
        if (uncompleted.size < MAX_UNCERTAIN_IDS) uncompleted.set(key, value)
        throw error
      }
    },
    async release(key) {
      const claim = mine.get(key)
      mine.delete(key)
      if (claim === undefined) return
      try {
        if (owned) await usable(client)
        await client.eval(RELEASE_OWN_CLAIM, 1, prefix + key, claim.value)
      } catch (error) {
        // The claim would block a re-send until pendingTtlMs: undo it once Redis is back.
        rememberUncertain(key, claim.value)
        throw error
      }
    },
    async close() {
      if (closed) return
      closed = true
      client.off('ready', onReady)
      // Last chance for failed claims and completions: queued before QUIT, so they run if Redis is there.
      if (client.status === 'ready' && uncertain.size > 0) void undoUncertain()
      if (client.status === 'ready' && uncompleted.size > 0) void completeAgain()
      if (owned) await closeClient(client)
    },
  }
}

/**
 * Whether a failed command may have run in Redis without its answer reaching us: only when the
 * connection failed under it. Not when ioredis refused to send it (the connection was already down;
 * this client has no offline queue), nor when Redis answered with an error (READONLY, OOM, …).
 */
function mayHaveRun(error: unknown): boolean {
  // By name too: a client of another ioredis major may carry its own copy of the class.
  if (error instanceof ReplyError || (error instanceof Error && error.name === 'ReplyError')) return false
  return !(error instanceof Error && error.message.includes("Stream isn't writeable"))
}

/** EVALSHA, and EVAL when Redis does not have the script (a restart, SCRIPT FLUSH). */
async function runClaim(client: Redis, key: string, value: string, pendingTtlMs: number, takeOver: string[]): Promise<unknown> {
  try {
    return await client.evalsha(CLAIM_SHA, 1, key, value, pendingTtlMs, ...takeOver)
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error
    return await client.eval(CLAIM, 1, key, value, pendingTtlMs, ...takeOver)
  }
}

/** A duplicate: the type its id was first claimed with, when the value stored says. */
function duplicateOf(current: unknown): ClaimResult {
  if (typeof current !== 'string') return false
  let type: string | undefined
  if (current.startsWith(DONE_WITH_TYPE)) {
    type = current.slice(DONE_WITH_TYPE.length)
  } else {
    const pending = PENDING_WITH_TYPE.exec(current)
    if (pending !== null) type = current.slice(pending[0].length)
  }
  return type ? { firstType: type } : false
}
