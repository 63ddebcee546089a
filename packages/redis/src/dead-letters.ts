import { type DeadLetter, type Logger, type WebhookEvent } from '@pocketsflow-webhooks/core'
import { parseEvent } from '@pocketsflow-webhooks/core/inbox'
import type { JobsOptions, Queue } from 'bullmq'
import type { Redis } from 'ioredis'
import { encodeJobId, type JobData } from './job.js'

/** A dead letter as stored: the event's text form plus what the listing shows. */
export interface StoredDeadLetter {
  event: string
  type: string
  attempts: number
  lastError: string | undefined
  failedAt: number
  /** Handlers that had succeeded: a replay, or a re-send, does not run them again. */
  completed?: string[]
  /** Handlers that failed their last attempt. */
  failed?: string[]
  /**
   * onError has yet to hear of it: set when it is written, cleared once reported. A process that
   * died in between leaves it set, and another worker reports it, with the stored error.
   */
  reportPending?: boolean
  /** The job that wrote it: if that job comes back (its process died before failing it), it is done. */
  jobId?: string
}

/** A dead letter's stored text (JSON). */
export function encodeDeadLetter(letter: StoredDeadLetter): string {
  return JSON.stringify(letter)
}

/** The dead letter a stored text holds. Throws on text that is not JSON; the shape is not checked. */
export function decodeDeadLetter(text: string): StoredDeadLetter {
  return JSON.parse(text) as StoredDeadLetter
}

/**
 * A dead letter whose write failed: its job fails one more time (BullMQ keeps the thrown message
 * as the job's failedReason) and its next pick-up, past the last attempt, only writes the letter.
 * The marker carries there what the failed write knew.
 */
export interface PendingDeadLetter {
  /** The last attempt's real error, for the letter. */
  lastError: string
  /** onError already heard of the failure (false: it hears once the letter is written). */
  reported: boolean
}

/** A dead letter still to be written, its failure already reported to onError. */
const PENDING_DEAD_LETTER = '[dead letter pending] '
/** The same, for a dead letter whose failure has not reached onError yet (a cut-short last attempt). */
const PENDING_UNREPORTED_DEAD_LETTER = '[dead letter pending, unreported] '

/** The failure message that carries a pending dead letter to the job's next pick-up. */
export function encodeDeadLetterMarker(pending: PendingDeadLetter): string {
  return (pending.reported ? PENDING_DEAD_LETTER : PENDING_UNREPORTED_DEAD_LETTER) + pending.lastError
}

/**
 * The pending dead letter a job's failedReason carries, if it carries one (any other reason, or
 * none: undefined). Never throws.
 */
export function decodeDeadLetterMarker(failedReason: string | undefined): PendingDeadLetter | undefined {
  const reason = failedReason ?? ''
  if (reason.startsWith(PENDING_DEAD_LETTER)) return { lastError: reason.slice(PENDING_DEAD_LETTER.length), reported: true }
  if (reason.startsWith(PENDING_UNREPORTED_DEAD_LETTER)) return { lastError: reason.slice(PENDING_UNREPORTED_DEAD_LETTER.length), reported: false }
  return undefined
}

/**
 * A failed attempt's message as the job's failedReason: as it is, unless it would read as a marker
 * (a handler may throw any text), then prefixed so it does not.
 */
export function attemptFailureReason(message: string): string {
  return decodeDeadLetterMarker(message) === undefined ? message : `handler error: ${message}`
}

// Written in one step so a dead letter never exists while its id still counts as seen (a re-send
// would be answered "duplicate" and lost), nor the other way round. The seen claim is BullMQ's
// deduplication key; it is dropped only while it still belongs to this job, so a re-send that
// was recorded meanwhile keeps its own. Fenced by the job's lock, like every write of a worker
// after it picked a job.
const WRITE_DEAD_LETTER = `
if redis.call('GET', KEYS[4]) ~= ARGV[5] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[4] then redis.call('DEL', KEYS[3]) end
return 1`

// Replaces a dead letter only if it is still the one that was read (compare-and-set).
const REPLACE_DEAD_LETTER_IF_SAME = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0`

// Drops exactly the dead letter that was replayed: one written since (a re-send failed again) stays.
const REMOVE_DEAD_LETTER_IF_SAME = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0`

/** What a dead-letter write is fenced by: the job's lock, and the seen claim it may drop. */
export interface DeadLetterFence {
  /** The job writing it: the seen claim is dropped only while it still holds this id. */
  jobId: string
  /** BullMQ's deduplication key for the event (its seen claim). */
  dedupeKey: string
  /** The job's lock key, and the token this worker holds it with. */
  lockKey: string
  token: string
}

/**
 * The dead letters of one queue, beside its keys: a hash of stored letters by event id, and their
 * ids by time. Every call goes through the given client (the producer's: it fails fast while Redis
 * is away).
 */
export class DeadLetterStore {
  readonly #client: Redis
  readonly #queue: Queue<JobData>
  readonly #jobOptions: (jobId: string, eventId: string) => JobsOptions
  readonly #logger: () => Logger
  readonly #key: string
  readonly #indexKey: string

  constructor(client: Redis, queue: Queue<JobData>, jobOptions: (jobId: string, eventId: string) => JobsOptions, logger: () => Logger) {
    this.#client = client
    this.#queue = queue
    this.#jobOptions = jobOptions
    this.#logger = logger
    // Beside the queue's own keys (same prefix, same cluster hash tag if the prefix has one).
    this.#key = queue.toKey('dead-letters')
    this.#indexKey = queue.toKey('dead-letters:by-time')
  }

  /** The stored text of the event's dead letter, or null. */
  read(id: string): Promise<string | null> {
    return this.#client.hget(this.#key, id)
  }

  /**
   * Writes the letter while `fence` holds, and drops the event's seen claim with it: its stored
   * text, or undefined if the worker lost the job's lock (nothing written). Throws if Redis refused.
   */
  async write(id: string, letter: StoredDeadLetter, fence: DeadLetterFence): Promise<string | undefined> {
    const text = encodeDeadLetter(letter)
    const stored = await this.#client.eval(WRITE_DEAD_LETTER, 4, this.#key, this.#indexKey, fence.dedupeKey, fence.lockKey, id, text, letter.failedAt, fence.jobId, fence.token)
    return stored === 1 ? text : undefined
  }

  /** Clears reportPending, only if the letter is still the `stored` one: true if this call cleared it. */
  async markReported(id: string, stored: string, letter: StoredDeadLetter): Promise<boolean> {
    const cleared = await this.#client.eval(REPLACE_DEAD_LETTER_IF_SAME, 1, this.#key, id, stored, encodeDeadLetter({ ...letter, reportPending: false }))
    return cleared === 1
  }

  /** Drops the event's dead letter, whichever it is: a re-send or a replay of it succeeded. */
  remove(id: string): Promise<unknown> {
    return this.#client.multi().hdel(this.#key, id).zrem(this.#indexKey, id).exec()
  }

  /**
   * Letters still to be reported (reportPending) and older than `ms`, with their event, read one
   * by one as the caller goes on; unreadable ones are skipped (listed, and skipped, by list()).
   */
  async *unreportedOlderThan(ms: number): AsyncGenerator<{ event: WebhookEvent; stored: string; letter: StoredDeadLetter }> {
    const all = await this.#client.hgetall(this.#key)
    for (const stored of Object.values(all)) {
      let letter: StoredDeadLetter
      let event: WebhookEvent
      try {
        letter = decodeDeadLetter(stored)
        if (!letter.reportPending || Date.now() - letter.failedAt < ms) continue
        event = parseEvent(letter.event)
      } catch {
        continue
      }
      yield { event, stored, letter }
    }
  }

  /** How many dead letters there are: the index's size, one command. */
  count(): Promise<number> {
    return this.#client.zcard(this.#indexKey)
  }

  /** The newest `limit` dead letters, newest first, as the inbox lists them. */
  async list(limit: number): Promise<DeadLetter[]> {
    const ids = await this.#client.zrevrange(this.#indexKey, 0, limit - 1)
    if (ids.length === 0) return []
    const stored = await this.#client.hmget(this.#key, ...ids)
    const letters: DeadLetter[] = []
    ids.forEach((id, i) => {
      const raw = stored[i]
      // Replayed between the two reads.
      if (raw === null || raw === undefined) return
      try {
        const letter = decodeDeadLetter(raw)
        letters.push({
          id,
          type: letter.type,
          attempts: letter.attempts,
          lastError: letter.lastError,
          failedAt: new Date(letter.failedAt),
          event: parseEvent(letter.event),
          completedHandlers: letter.completed ?? [],
          failedHandlers: letter.failed ?? [],
        })
      } catch (error) {
        this.#logger().warn({ err: error, eventId: id }, 'unreadable dead letter skipped')
      }
    })
    return letters
  }

  /** Queues the event of a dead letter again: false if there is none. */
  async replay(id: string): Promise<boolean> {
    const raw = await this.read(id)
    if (raw === null) return false
    const letter = decodeDeadLetter(raw)
    const jobId = encodeJobId(id, letter.type)
    // A new job, attempts from 1, the handlers that succeeded before skipped, and the seen claim
    // back in place. If a re-send of the event was recorded since (and is queued or done within
    // the retention), the deduplication refuses this one: the event is not run twice, and the dead
    // letter is settled all the same.
    const data: JobData = { event: letter.event, ...(letter.completed ? { completed: letter.completed } : {}) }
    const job = await this.#queue.add(letter.type, data, this.#jobOptions(jobId, id))
    if (job.id !== jobId) {
      // The re-send's job takes the completed handlers from this letter, and removes it once it
      // succeeds: removed now, the re-send would run them again.
      this.#logger().info({ eventId: id }, 'dead letter not queued again: a re-send of the event was recorded since, and settles it')
      return true
    }
    await this.#client.eval(REMOVE_DEAD_LETTER_IF_SAME, 2, this.#key, this.#indexKey, id, raw)
    return true
  }
}
