import { randomUUID } from 'node:crypto'
import {
  describeThrown,
  parseEvent,
  resolveLogger,
  serializeEvent,
  storableText,
  WebhookReceiverClosedError,
  type ClaimResult,
  type DeadLetter,
  type InboxOutcome,
  type InboxProcessor,
  type Logger,
  type WebhookEvent,
  type WebhookInbox,
} from '@pocketsflow-webhooks/core'
import { Queue, UnrecoverableError, WaitingError, Worker, type Job, type JobsOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import { closeClient, createClient, describeServer, usable, type RedisConnectionOptions } from './connection.js'
import { DEFAULT_RETENTION_MS, positive } from './dedupe.js'

export const DEFAULT_QUEUE_NAME = 'pocketsflow-webhooks'
export const DEFAULT_CONCURRENCY = 10
export const DEFAULT_LOCK_DURATION_MS = 30_000
export const DEFAULT_STALLED_INTERVAL_MS = 30_000

export interface BullmqInboxOptions {
  /** `{ url }` (plus any ioredis option), or your ioredis instance (not closed by `close()`). */
  connection: RedisConnectionOptions
  /** BullMQ queue name (default `pocketsflow-webhooks`). The web and worker processes must agree. */
  queueName?: string
  /** BullMQ key prefix (default BullMQ's, `bull`). Every key this inbox writes starts with it. */
  prefix?: string
  /**
   * How long an event id is remembered after it was recorded: re-sends within it are duplicates
   * (default 30 days: a body captured and replayed later, with a fresh unsigned timestamp, must
   * not run again under a type of the replayer's choice).
   */
  retentionMs?: number
  /** Events one process handles at the same time (default 10). */
  concurrency?: number
  /**
   * How long a worker's claim on a running event lasts without renewal (default 30 s). BullMQ
   * renews it every half of this while the handler runs, so it does not bound handler time: it is
   * how long an event whose process died waits before another worker runs it again.
   */
  lockDurationMs?: number
  /** How often workers look for events whose process died (default 30 s). */
  stalledIntervalMs?: number
  /** pino-compatible logger (default: the receiver's), or `false`. */
  logger?: Logger | false
}

/** What is stored per event in the BullMQ job. */
interface JobData {
  /** The event, in core's text form. */
  event: string
  /** Handlers that already succeeded: a retry skips them. */
  completed?: string[]
  /** Starts given back by a closing worker: they do not count as attempts. */
  released?: number
}

/** A dead letter as stored: the event's text form plus what the listing shows. */
interface StoredDeadLetter {
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

/** BullMQ gives up after this many failures; our own attempt count decides long before. */
const BULLMQ_ATTEMPTS = 1_000_000
const BACKOFF_TYPE = 'pocketsflow-webhooks'
/** A job stalling this often is not BullMQ's to fail: our attempt count dead-letters it first. */
const MAX_STALLED_COUNT = 1_000_000
/** After close()'s timeout: how long aborted attempts get to give their events back. */
const CLOSE_GRACE_MS = 2000
/** When writing a dead letter failed: how soon the job comes back to try again. */
const DEAD_LETTER_RETRY_MS = 1000
/** Marks a failure whose dead letter still has to be written (see #deadLetterOrRetry). */
const PENDING_DEAD_LETTER = '[dead letter pending] '
/** The same, for a dead letter whose failure has not reached onError yet (a cut-short last attempt). */
const PENDING_UNREPORTED_DEAD_LETTER = '[dead letter pending, unreported] '
const ERROR_LOG_INTERVAL_MS = 30_000
/** How often a worker looks for dead letters stored but never reported (their process died in between). */
const UNREPORTED_SCAN_INTERVAL_MS = 60_000

// Written in one step so a dead letter never exists while its id still counts as seen (a re-send
// would be answered "duplicate" and lost), nor the other way round. The seen claim is BullMQ's
// deduplication key; it is dropped only while it still belongs to this job, so a re-send that
// was recorded meanwhile keeps its own.
const WRITE_DEAD_LETTER = `
if redis.call('GET', KEYS[4]) ~= ARGV[5] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if redis.call('GET', KEYS[3]) == ARGV[4] then redis.call('DEL', KEYS[3]) end
return 1`

// Writes a job's data only while this worker still holds its lock. A worker cut off from Redis for
// longer than the lock finds, when it is back, that another may run the event now: it must neither
// overwrite what that one records nor go on to the next handler as if it still held it. Every
// write of a worker after it picked a job goes through this (or checks the lock as it does).
const UPDATE_DATA_IF_LOCKED = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2])
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

interface RunningAttempt {
  readonly controller: AbortController
  /** Why the attempt was aborted from outside the processor, if it was. */
  stoppedBy?: 'close' | 'lost-lock'
}

/**
 * A durable webhook inbox on BullMQ: `record()` stores each event in Redis before the 200, and
 * workers (in the web process, or a separate one with `startInboxWorker`) run the handlers with
 * retries that survive crashes and restarts.
 */
export function bullmqInbox(options: BullmqInboxOptions): WebhookInbox {
  return new BullmqInbox(options)
}

class BullmqInbox implements WebhookInbox {
  readonly #connection: RedisConnectionOptions
  readonly #queueName: string
  readonly #prefix: string | undefined
  readonly #retentionMs: number
  readonly #concurrency: number
  readonly #lockDurationMs: number
  readonly #stalledIntervalMs: number
  readonly #ownLogger: Logger | undefined
  /** The producer connection: records, dead letters, replays. Fails fast while Redis is away. */
  readonly #client: Redis
  readonly #queue: Queue<JobData>
  readonly #deadLettersKey: string
  readonly #deadLetterIndexKey: string
  readonly #owned: Redis[] = []
  readonly #running = new Map<string, RunningAttempt>()
  readonly #idleWaiters: (() => void)[] = []
  readonly #lastLogged = new Map<string, number>()
  #processor: InboxProcessor | undefined
  #worker: Worker<JobData> | undefined
  /** The workers' own connection (not the blocking one): it waits out Redis outages. */
  #workerClient: Redis | undefined
  #unreportedScan: ReturnType<typeof setInterval> | undefined
  #closing: Promise<void> | undefined

  constructor(options: BullmqInboxOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('bullmqInbox: options must be an object')
    const connection = options.connection
    if (connection === null || typeof connection !== 'object') {
      throw new TypeError('bullmqInbox: "connection" is required: { url: process.env.REDIS_URL } or an ioredis instance')
    }
    this.#connection = connection
    this.#queueName = options.queueName ?? DEFAULT_QUEUE_NAME
    if (typeof this.#queueName !== 'string' || this.#queueName === '' || this.#queueName.includes(':')) {
      throw new TypeError(`bullmqInbox: "queueName" must be a non-empty string without ":", got ${JSON.stringify(this.#queueName)}`)
    }
    this.#prefix = options.prefix
    this.#retentionMs = positive('retentionMs', options.retentionMs, DEFAULT_RETENTION_MS)
    this.#concurrency = positive('concurrency', options.concurrency, DEFAULT_CONCURRENCY)
    if (!Number.isInteger(this.#concurrency)) throw new TypeError(`bullmqInbox: "concurrency" must be a whole number, got ${this.#concurrency}`)
    this.#lockDurationMs = positive('lockDurationMs', options.lockDurationMs, DEFAULT_LOCK_DURATION_MS)
    this.#stalledIntervalMs = positive('stalledIntervalMs', options.stalledIntervalMs, DEFAULT_STALLED_INTERVAL_MS)
    this.#ownLogger = options.logger === undefined ? undefined : resolveLogger(options.logger)

    this.#client = this.#own(createClient(connection, 'command', `${this.#queueName}:producer`))
    this.#queue = new Queue<JobData>(this.#queueName, { connection: this.#client, ...(this.#prefix === undefined ? {} : { prefix: this.#prefix }) })
    this.#queue.on('error', (error) => this.#logError('queue', error))
    // Beside the queue's own keys (same prefix, same cluster hash tag if the prefix has one).
    this.#deadLettersKey = this.#queue.toKey('dead-letters')
    this.#deadLetterIndexKey = this.#queue.toKey('dead-letters:by-time')
  }

  async record(event: WebhookEvent): Promise<ClaimResult> {
    if (this.#closing) throw new Error('bullmqInbox: closed')
    await usable(this.#client)
    const jobId = newJobId(event.id, event.type)
    // One BullMQ script does both the "seen" check and the insert (its deduplication key, kept for
    // the retention even after the job is gone): the event is either stored and claimed, or
    // neither. A two-step claim-then-add could leave a claim without a job after a dropped
    // connection, and the re-send would then be answered "duplicate" and lost. The script is
    // idempotent for its own job id: re-sent by the client after a lost reply, it still wins.
    const job = await this.#queue.add(event.type, { event: serializeEvent(event) }, this.#jobOptions(jobId, event.id))
    // A duplicate comes back as the job id that holds the event id, which names its first type.
    if (job.id === jobId) return true
    const firstType = typeOfJobId(job.id)
    if (firstType === undefined) return false
    // A type that had to be made storable reads back as such: the same type, all the same.
    return { firstType: firstType === storableText(event.type) ? event.type : firstType }
  }

  /** This inbox's queue and server: `bullmq redis://host:port/db <prefix>:<queueName>`. */
  get queue(): string {
    return `bullmq ${describeServer(this.#connection)} ${this.#prefix ?? 'bull'}:${this.#queueName}`
  }

  start(processor: InboxProcessor): void {
    if (this.#worker) throw new Error('bullmqInbox: start() was already called')
    if (this.#closing) return
    this.#processor = processor
    const client = this.#own(createClient(this.#connection, 'worker', `${this.#queueName}:worker`))
    this.#workerClient = client
    // BullMQ opens its blocking connection as a duplicate of this one. It closes it itself only at
    // the end of worker.close(), which never comes while Redis is unreachable (it waits for that
    // connection to become ready first): left alone, the duplicate would reconnect forever after
    // our close() returned, and keep the process alive. Owned here, close() ends it.
    const duplicate = client.duplicate.bind(client)
    client.duplicate = ((...args: Parameters<Redis['duplicate']>) => {
      const copy = duplicate(...args)
      copy.on('error', () => {})
      return this.#own(copy)
    }) as Redis['duplicate']
    const worker = new Worker<JobData>(
      this.#queueName,
      // Three parameters: BullMQ passes its abort signal only to processors that declare it.
      (job, token, signal) => this.#process(job, token, signal),
      {
        connection: client,
        ...(this.#prefix === undefined ? {} : { prefix: this.#prefix }),
        concurrency: this.#concurrency,
        lockDuration: this.#lockDurationMs,
        stalledInterval: this.#stalledIntervalMs,
        maxStalledCount: MAX_STALLED_COUNT,
        settings: { backoffStrategy: (_made, _type, error) => retryDelayOf(error) },
      },
    )
    worker.on('error', (error) => this.#logError('worker', error))
    void this.#reportUnreported()
    this.#unreportedScan = setInterval(() => void this.#reportUnreported(), UNREPORTED_SCAN_INTERVAL_MS)
    this.#unreportedScan.unref()
    worker.on('lockRenewalFailed', (jobIds) => {
      for (const id of jobIds) {
        const running = this.#running.get(id)
        if (!running || running.stoppedBy) continue
        running.stoppedBy = 'lost-lock'
        running.controller.abort(new Error('the worker lost its lock on the event: another worker will run it'))
      }
    })
    this.#worker = worker
  }

  close(options?: { timeoutMs?: number }): Promise<void> {
    this.#closing ??= this.#close(options?.timeoutMs ?? Infinity)
    return this.#closing
  }

  async deadLetters(options?: { limit?: number }): Promise<DeadLetter[]> {
    const limit = options?.limit ?? 50
    if (!Number.isInteger(limit) || limit < 1) throw new TypeError(`bullmqInbox.deadLetters: "limit" must be a whole number >= 1, got ${String(limit)}`)
    await usable(this.#client)
    const ids = await this.#client.zrevrange(this.#deadLetterIndexKey, 0, limit - 1)
    if (ids.length === 0) return []
    const stored = await this.#client.hmget(this.#deadLettersKey, ...ids)
    const letters: DeadLetter[] = []
    ids.forEach((id, i) => {
      const raw = stored[i]
      // Replayed between the two reads.
      if (raw === null || raw === undefined) return
      try {
        const letter = JSON.parse(raw) as StoredDeadLetter
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
        this.#logger.warn({ err: error, eventId: id }, 'unreadable dead letter skipped')
      }
    })
    return letters
  }

  async replay(id: string): Promise<boolean> {
    if (typeof id !== 'string' || id === '') throw new TypeError('bullmqInbox.replay: "id" must be a non-empty string')
    await usable(this.#client)
    const raw = await this.#client.hget(this.#deadLettersKey, id)
    if (raw === null) return false
    const letter = JSON.parse(raw) as StoredDeadLetter
    const jobId = newJobId(id, letter.type)
    // A new job, attempts from 1, the handlers that succeeded before skipped, and the seen claim
    // back in place. If a re-send of the event was recorded since (and is queued or done within
    // the retention), the deduplication refuses this one: the event is not run twice, and the dead
    // letter is settled all the same.
    const data: JobData = { event: letter.event, ...(letter.completed ? { completed: letter.completed } : {}) }
    const job = await this.#queue.add(letter.type, data, this.#jobOptions(jobId, id))
    if (job.id !== jobId) {
      // The re-send's job takes the completed handlers from this letter, and removes it once it
      // succeeds: removed now, the re-send would run them again.
      this.#logger.info({ eventId: id }, 'dead letter not queued again: a re-send of the event was recorded since, and settles it')
      return true
    }
    await this.#client.eval(REMOVE_DEAD_LETTER_IF_SAME, 2, this.#deadLettersKey, this.#deadLetterIndexKey, id, raw)
    return true
  }

  #jobOptions(jobId: string, eventId: string): JobsOptions {
    return {
      jobId,
      deduplication: { id: eventId, ttl: this.#retentionMs },
      attempts: BULLMQ_ATTEMPTS,
      backoff: { type: BACKOFF_TYPE },
      // Nothing to keep: the id is remembered by the deduplication key, and failures by the dead
      // letters. A failed job kept in BullMQ would only hold the payload a second time.
      removeOnComplete: true,
      removeOnFail: true,
    }
  }

  /** One attempt at one event. What it throws tells BullMQ what to do with the job. */
  async #process(job: Job<JobData>, token: string | undefined, bullSignal: AbortSignal | undefined): Promise<void> {
    const processor = this.#processor as InboxProcessor
    const jobId = job.id as string
    let event: WebhookEvent
    try {
      event = parseEvent(job.data.event)
    } catch (error) {
      this.#logger.error({ err: error, jobId }, 'a job in the inbox queue is not an event this library recorded; dropping it')
      throw new UnrecoverableError('not an event recorded by @pocketsflow-webhooks/redis')
    }
    // A re-send of a dead letter is a new job: the handlers that succeeded before are in its letter.
    // Taken before anything else, a dead letter written below included.
    if (job.data.completed === undefined) event = await this.#carryOverCompleted(job, token, event)

    // attemptsStarted counts every pick-up, those cut short by a crash or a lost lock included.
    const attempt = job.attemptsStarted - (job.data.released ?? 0)
    if (attempt > processor.maxAttempts) {
      // This job already wrote its dead letter, and its process died before it could fail the job:
      // the letter and its error stand (reported now if it was not); only the job is left to end.
      await this.#endIfLetterWritten(job, event)
      // The last attempt started but never reported (the process died): nothing is left to try.
      const reason = job.failedReason ?? ''
      const reported = reason.startsWith(PENDING_DEAD_LETTER)
      const pending = reported
        ? reason.slice(PENDING_DEAD_LETTER.length)
        : reason.startsWith(PENDING_UNREPORTED_DEAD_LETTER)
          ? reason.slice(PENDING_UNREPORTED_DEAD_LETTER.length)
          : undefined
      const lastError = pending ?? `attempt ${processor.maxAttempts} of ${processor.maxAttempts} was cut short (the process stopped or lost its lock) before it finished`
      // No attempt reported this one, so onError hears of it from here, once the dead letter is
      // written (a failure of a final attempt already reached onError from that attempt).
      const report = reported ? undefined : () => processor.deadLettered(event, processor.maxAttempts, new Error(lastError))
      await this.#deadLetterOrRetry(job, token, event, processor.maxAttempts, lastError, { completed: job.data.completed ?? [], failed: [], report })
    }

    const running: RunningAttempt = { controller: new AbortController() }
    this.#running.set(jobId, running)
    const onBullAbort = () => running.controller.abort(bullSignal?.reason)
    bullSignal?.addEventListener('abort', onBullAbort, { once: true })
    let outcome: InboxOutcome
    try {
      outcome = await processor.run({
        event,
        attempt,
        completed: job.data.completed ?? [],
        markCompleted: (handler) => this.#markCompleted(job, token, running, handler),
        signal: running.controller.signal,
      })
    } finally {
      this.#running.delete(jobId)
      bullSignal?.removeEventListener('abort', onBullAbort)
      if (this.#running.size === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve()
    }

    if (outcome.ok) {
      // A re-send or a replay of a dead-lettered event succeeded: its dead letter is settled.
      await this.#client
        .multi()
        .hdel(this.#deadLettersKey, event.id)
        .zrem(this.#deadLetterIndexKey, event.id)
        .exec()
        .catch((error: unknown) => this.#logger.warn({ err: error, eventId: event.id }, 'could not remove a settled dead letter'))
      return
    }
    // Only an attempt the abort actually interrupted is given back: a final attempt whose handler
    // had already failed (onError was called) is a dead letter, even if close() then cut the next
    // handler short.
    if (running.stoppedBy === 'close' && outcome.interrupted) {
      // Given back, not failed: the next worker runs it as the same attempt.
      if (!(await this.#updateDataIfLocked(job, token, { ...job.data, released: (job.data.released ?? 0) + 1 }))) throw new WaitingError()
      // A handler that ignores its signal may still be running: moved back now, another worker
      // would run it beside this one. Left active instead: its lock lapses (nobody renews it once
      // this worker has closed) and the stalled check gives it back.
      if (outcome.abandoned) {
        this.#logger.warn({ eventId: event.id, attempt }, 'a handler was still running when close() gave up on it; its event is given back when its lock lapses')
      } else {
        await job.moveToWait(token)
      }
      throw new WaitingError()
    }
    if (running.stoppedBy === 'lost-lock') {
      // Another worker owns it now (or will once the stalled check runs): leave the job alone.
      throw new WaitingError()
    }
    // Kept with the outcome too: the early record of a success (markCompleted) may have failed.
    const completed = union(job.data.completed, outcome.completed)
    const message = describeThrown(outcome.error)
    if (outcome.final) await this.#deadLetterOrRetry(job, token, event, attempt, message, { completed, failed: [...outcome.failed], report: outcome.report })
    if (completed.length > (job.data.completed?.length ?? 0)) {
      const held = await this.#updateDataIfLocked(job, token, { ...job.data, completed }).catch((error: unknown) => {
        this.#logger.warn({ err: error, eventId: event.id }, 'could not record the handlers that succeeded; a retry may run them again')
        return true
      })
      if (!held) throw new WaitingError() // another worker holds it: its attempt decides
    }
    // Retried by BullMQ after the processor's backoff (see backoffStrategy in start()).
    throw Object.assign(new Error(message), { retryInMs: outcome.retryInMs })
  }

  /** Records that one handler succeeded, fenced by the job's lock; a lost lock stops the attempt. */
  async #markCompleted(job: Job<JobData>, token: string | undefined, running: RunningAttempt, handler: string): Promise<void> {
    const held = await this.#updateDataIfLocked(job, token, { ...job.data, completed: [...(job.data.completed ?? []), handler] })
    if (!held) {
      if (!running.stoppedBy) {
        running.stoppedBy = 'lost-lock'
        running.controller.abort(new Error('the worker lost its lock on the event: another worker will run it'))
      }
      throw new Error('bullmqInbox: the lock on the event was lost; the handler will be recorded by the attempt that holds it')
    }
  }

  /**
   * Writes a job's data if this worker still holds its lock (false: it does not). On the worker's
   * connection, which waits for Redis to come back (the producer's fails at once): the lock is
   * checked when the write can be made, not skipped because it could not.
   */
  async #updateDataIfLocked(job: Job<JobData>, token: string | undefined, data: JobData): Promise<boolean> {
    const jobKey = this.#queue.toKey(job.id as string)
    const held = await (this.#workerClient as Redis).eval(UPDATE_DATA_IF_LOCKED, 2, jobKey, `${jobKey}:lock`, token ?? '', JSON.stringify(data))
    if (held !== 1) return false
    job.data = data
    return true
  }

  /**
   * A job that has no completed handlers yet takes those of the event's dead letter, if it has one,
   * and the letter's event: a re-send under another (unsigned) type header still runs as the type
   * the event was first recorded under, the one its completed handlers are named after.
   */
  async #carryOverCompleted(job: Job<JobData>, token: string | undefined, event: WebhookEvent): Promise<WebhookEvent> {
    const raw = await this.#client.hget(this.#deadLettersKey, event.id)
    let data: JobData = { ...job.data, completed: [] }
    let carried = event
    if (raw !== null) {
      try {
        const letter = JSON.parse(raw) as StoredDeadLetter
        carried = parseEvent(letter.event)
        data = { ...job.data, event: letter.event, completed: letter.completed ?? [] }
        if (carried.type !== event.type) {
          this.#logger.warn({ eventId: event.id, type: event.type, firstType: carried.type }, 'a re-send of a dead letter under another event type: run as the type it was first recorded under')
        }
      } catch (error) {
        this.#logger.warn({ err: error, eventId: event.id }, 'unreadable dead letter: its handlers run again')
        carried = event
        data = { ...job.data, completed: [] }
      }
    }
    if (!(await this.#updateDataIfLocked(job, token, data))) throw new WaitingError() // another worker holds it
    return carried
  }

  /**
   * Writes the dead letter and fails the job for good; if Redis refused, the job comes back to try
   * again. `report` (onError) runs once the letter is written, never before: a crash in between
   * leaves the letter's reportPending for another worker, which reports the stored error.
   */
  async #deadLetterOrRetry(
    job: Job<JobData>,
    token: string | undefined,
    event: WebhookEvent,
    attempts: number,
    lastError: string,
    outcome: { completed: string[]; failed: string[]; report: (() => void) | undefined },
  ): Promise<never> {
    const report = outcome.report
    const letter: StoredDeadLetter = {
      event: job.data.event,
      type: event.type,
      attempts,
      lastError,
      failedAt: Date.now(),
      completed: outcome.completed,
      failed: outcome.failed,
      reportPending: report !== undefined,
      jobId: job.id as string,
    }
    const text = JSON.stringify(letter)
    const dedupeKey = `${this.#queue.keys['de']}:${job.deduplicationId ?? event.id}`
    const jobKey = this.#queue.toKey(job.id as string)
    let stored: unknown
    try {
      stored = await this.#client.eval(WRITE_DEAD_LETTER, 4, this.#deadLettersKey, this.#deadLetterIndexKey, dedupeKey, `${jobKey}:lock`, event.id, text, letter.failedAt, job.id as string, token ?? '')
    } catch (error) {
      this.#logger.error({ err: error, eventId: event.id }, 'could not write the dead letter; the event stays queued and this is tried again')
      // The job's next pick-up is past the last attempt: it only writes the dead letter, and the
      // marker carries the real last error there.
      // An unreported failure (report is set) stays unreported until the write succeeds.
      const marker = report === undefined ? PENDING_DEAD_LETTER : PENDING_UNREPORTED_DEAD_LETTER
      throw Object.assign(new Error(marker + lastError), { retryInMs: DEAD_LETTER_RETRY_MS })
    }
    if (stored !== 1) {
      // This worker lost its lock on the event: the one that holds it now decides, and reports.
      this.#logger.warn({ eventId: event.id, attempt: attempts }, 'lost the lock on the event before its dead letter was written; the attempt that holds it decides')
      throw new WaitingError()
    }
    this.#logger.error({ eventId: event.id, type: event.type, attempts, lastError }, 'webhook event moved to the dead letters')
    if (report) await this.#reported(event.id, text, letter, report)
    throw new UnrecoverableError(lastError)
  }

  /** Ends a job whose dead letter it already wrote (see #process); reports the letter if that is still due. */
  async #endIfLetterWritten(job: Job<JobData>, event: WebhookEvent): Promise<void> {
    const raw = await this.#client.hget(this.#deadLettersKey, event.id)
    if (raw === null) return
    let letter: StoredDeadLetter
    try {
      letter = JSON.parse(raw) as StoredDeadLetter
    } catch {
      return
    }
    if (letter.jobId !== job.id) return
    if (letter.reportPending) await this.#reportStored(event, raw, letter)
    throw new UnrecoverableError(letter.lastError ?? 'dead letter written before the process stopped')
  }

  /**
   * Reports a letter stored by a process that died before reporting it, with what was stored. The
   * flag is cleared first (compare-and-set): of several workers finding it, one reports it.
   */
  async #reportStored(event: WebhookEvent, raw: string, letter: StoredDeadLetter): Promise<void> {
    const cleared = await this.#client.eval(REPLACE_DEAD_LETTER_IF_SAME, 1, this.#deadLettersKey, event.id, raw, JSON.stringify({ ...letter, reportPending: false }))
    if (cleared === 1) this.#processor?.deadLettered(event, letter.attempts, new Error(letter.lastError ?? 'unknown error'), letter.failed)
  }

  /** Reports a stored dead letter, then clears its reportPending (only if the letter is still that one). */
  async #reported(id: string, stored: string, letter: StoredDeadLetter, report: () => void): Promise<void> {
    report()
    try {
      await this.#client.eval(REPLACE_DEAD_LETTER_IF_SAME, 1, this.#deadLettersKey, id, stored, JSON.stringify({ ...letter, reportPending: false }))
    } catch (error) {
      this.#logger.warn({ err: error, eventId: id }, 'could not record that a dead letter was reported; it may be reported again')
    }
  }

  /**
   * Dead letters stored but never reported: their process died between the write and onError.
   * Reported now with the stored error, by whichever worker clears the flag first. Only letters
   * older than a lock: a younger one's worker may be reporting it right now.
   */
  async #reportUnreported(): Promise<void> {
    const processor = this.#processor
    if (!processor || this.#closing) return
    try {
      await usable(this.#client)
      const all = await this.#client.hgetall(this.#deadLettersKey)
      for (const [id, raw] of Object.entries(all)) {
        let letter: StoredDeadLetter
        let event: WebhookEvent
        try {
          letter = JSON.parse(raw) as StoredDeadLetter
          if (!letter.reportPending || Date.now() - letter.failedAt < this.#lockDurationMs) continue
          event = parseEvent(letter.event)
        } catch {
          continue // unreadable: listed (and skipped) by deadLetters()
        }
        await this.#reportStored(event, raw, letter)
      }
    } catch (error) {
      this.#logError('dead letters', error)
    }
  }

  async #close(timeoutMs: number): Promise<void> {
    clearInterval(this.#unreportedScan)
    const worker = this.#worker
    if (worker) {
      // Stops taking jobs at once, and resolves when the running ones have finished and reported.
      const drained = worker.close().catch((error: unknown) => this.#logError('worker', error))
      // BullMQ's close also waits for its connections, which never happens while Redis is
      // unreachable: once no attempt of ours runs any more, it gets a moment, not forever.
      const idleThenGrace = this.#idle().then(() => sleep(CLOSE_GRACE_MS))
      const finished = Promise.race([drained, idleThenGrace])
      if (!(await settlesWithin(finished, timeoutMs))) {
        for (const running of this.#running.values()) {
          if (running.stoppedBy) continue
          running.stoppedBy = 'close'
          running.controller.abort(new WebhookReceiverClosedError())
        }
        await settlesWithin(drained, CLOSE_GRACE_MS)
      }
      if (this.#running.size > 0) {
        // Redis is unreachable, most likely: the locks of these jobs expire and another worker
        // runs them (as a new attempt). Nothing is lost.
        this.#logger.warn({ jobs: this.#running.size }, 'bullmqInbox: running events could not be given back in time; another worker takes them over once their lock expires')
      }
    }
    await settlesWithin(
      this.#queue.close().catch((error: unknown) => this.#logError('queue', error)),
      timeoutMs === Infinity ? Infinity : CLOSE_GRACE_MS,
    )
    await Promise.all(this.#owned.map((client) => closeClient(client)))
  }

  /** Resolves once no attempt runs in this process. */
  #idle(): Promise<void> {
    if (this.#running.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  #own(client: Redis): Redis {
    this.#owned.push(client)
    return client
  }

  get #logger(): Logger {
    return this.#ownLogger ?? this.#processor?.logger ?? resolveLogger(undefined)
  }

  /** Redis being away makes BullMQ report the same error on every reconnection: log it now and then. */
  #logError(source: string, error: unknown): void {
    const message = describeThrown(error)
    const key = `${source}:${message}`
    const now = Date.now()
    const last = this.#lastLogged.get(key)
    if (last !== undefined && now - last < ERROR_LOG_INTERVAL_MS) return
    if (this.#lastLogged.size > 100) this.#lastLogged.clear()
    this.#lastLogged.set(key, now)
    this.#logger.error({ err: error, queue: this.#queueName }, `bullmqInbox: ${source} error`)
  }
}

/**
 * A job id unique to this recording. Event ids are not used as is: BullMQ refuses ":" in custom
 * ids (and integers), and a dead-lettered event recorded again must get a new job even while the
 * old one is still being removed; duplicates are caught by the deduplication key instead, which
 * holds this id for the retention: it carries the event type, so that a duplicate can be told
 * what type the event was first recorded under. `|` never appears in an encoded component.
 */
function newJobId(eventId: string, type: string): string {
  return `${encodeURIComponent(eventId)}|${encodeURIComponent(storableText(type))}|${randomUUID()}`
}

/** Both lists' names, each once. */
function union(a: readonly string[] | undefined, b: readonly string[]): string[] {
  return [...new Set([...(a ?? []), ...b])]
}

/** The type a job id names (ids written before types were kept name none). */
function typeOfJobId(jobId: string | undefined): string | undefined {
  const parts = jobId?.split('|')
  if (parts?.length !== 3) return undefined
  try {
    return decodeURIComponent(parts[1] as string)
  } catch {
    return undefined
  }
}

function retryDelayOf(error: Error | undefined): number {
  const delay = (error as { retryInMs?: unknown } | undefined)?.retryInMs
  return typeof delay === 'number' && Number.isFinite(delay) && delay >= 0 ? delay : DEAD_LETTER_RETRY_MS
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  if (ms === Infinity) return promise.then(() => true)
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    promise.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

