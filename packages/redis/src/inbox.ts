import {
  WebhookReceiverClosedError,
  type ClaimResult,
  type DeadLetter,
  type Logger,
  type WebhookEvent,
  type WebhookInbox,
  type InboxDepth,
} from '@pocketsflow-webhooks/core'
import {
  describeThrown,
  parseEvent,
  positiveNumber,
  resolveLogger,
  serializeEvent,
  settledWithin,
  sleep,
  storableText,
  type InboxOutcome,
  type InboxProcessor,
} from '@pocketsflow-webhooks/core/inbox'
import { Queue, UnrecoverableError, WaitingError, Worker, type Job, type JobsOptions } from 'bullmq'
import type { Redis } from 'ioredis'
import { closeClient, createClient, describeServer, usable, type RedisConnectionOptions } from './connection.js'
import {
  attemptFailureReason,
  decodeDeadLetter,
  decodeDeadLetterMarker,
  DeadLetterStore,
  encodeDeadLetterMarker,
  type StoredDeadLetter,
} from './dead-letters.js'
import { DEFAULT_RETENTION_MS } from './dedupe.js'
import { decodeJobIdType, encodeJobId, type JobData } from './job.js'

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

/** BullMQ gives up after this many failures; our own attempt count decides long before. */
const BULLMQ_ATTEMPTS = 1_000_000
const BACKOFF_TYPE = 'pocketsflow-webhooks'
/** A job stalling this often is not BullMQ's to fail: our attempt count dead-letters it first. */
const MAX_STALLED_COUNT = 1_000_000
/** After close()'s timeout: how long aborted attempts get to give their events back. */
const CLOSE_GRACE_MS = 2000
/** When writing a dead letter failed: how soon the job comes back to try again. */
const DEAD_LETTER_RETRY_MS = 1000
const ERROR_LOG_INTERVAL_MS = 30_000
/** How often a worker looks for dead letters stored but never reported (their process died in between). */
const UNREPORTED_SCAN_INTERVAL_MS = 60_000

// Writes a job's data only while this worker still holds its lock. A worker cut off from Redis for
// longer than the lock finds, when it is back, that another may run the event now: it must neither
// overwrite what that one records nor go on to the next handler as if it still held it. Every
// write of a worker after it picked a job goes through this (or checks the lock as it does: the
// dead letter's write, in dead-letters.ts).
const UPDATE_DATA_IF_LOCKED = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[2])
return 1`

interface RunningAttempt {
  readonly controller: AbortController
  /** Why the attempt was aborted from outside the processor, if it was. */
  stoppedBy?: 'close' | 'lost-lock'
}

/**
 * A durable webhook inbox on BullMQ: `record()` stores each event in Redis before the 200, and
 * workers (in the web process, or a separate one with `startInboxWorker`) run the handlers with
 * retries that survive crashes and restarts.
 * @example
 * ```ts
 * app.use(pocketsflowWebhook({ secret, on, inbox: bullmqInbox({ connection: { url: process.env.REDIS_URL } }) }))
 * ```
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
  readonly #deadLetters: DeadLetterStore
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
    if (options === null || typeof options !== 'object') throw new TypeError('pocketsflow-webhooks: bullmqInbox: options must be an object')
    const connection = options.connection
    if (connection === null || typeof connection !== 'object') {
      throw new TypeError('pocketsflow-webhooks: bullmqInbox: "connection" is required: { url: process.env.REDIS_URL } or an ioredis instance')
    }
    this.#connection = connection
    this.#queueName = options.queueName ?? DEFAULT_QUEUE_NAME
    if (typeof this.#queueName !== 'string' || this.#queueName === '' || this.#queueName.includes(':')) {
      throw new TypeError(`pocketsflow-webhooks: bullmqInbox: "queueName" must be a non-empty string without ":", got ${JSON.stringify(this.#queueName)}`)
    }
    this.#prefix = options.prefix
    this.#retentionMs = positiveNumber('retentionMs', options.retentionMs, DEFAULT_RETENTION_MS)
    this.#concurrency = positiveNumber('concurrency', options.concurrency, DEFAULT_CONCURRENCY)
    if (!Number.isInteger(this.#concurrency)) throw new TypeError(`pocketsflow-webhooks: bullmqInbox: "concurrency" must be a whole number, got ${this.#concurrency}`)
    this.#lockDurationMs = positiveNumber('lockDurationMs', options.lockDurationMs, DEFAULT_LOCK_DURATION_MS)
    this.#stalledIntervalMs = positiveNumber('stalledIntervalMs', options.stalledIntervalMs, DEFAULT_STALLED_INTERVAL_MS)
    this.#ownLogger = options.logger === undefined ? undefined : resolveLogger(options.logger)

    this.#client = this.#own(createClient(connection, 'command', `${this.#queueName}:producer`))
    this.#queue = new Queue<JobData>(this.#queueName, { connection: this.#client, ...(this.#prefix === undefined ? {} : { prefix: this.#prefix }) })
    this.#queue.on('error', (error) => this.#logError('queue', error))
    this.#deadLetters = new DeadLetterStore(
      this.#client,
      this.#queue,
      (jobId, eventId) => this.#jobOptions(jobId, eventId),
      () => this.#logger,
    )
  }

  async record(event: WebhookEvent): Promise<ClaimResult> {
    if (this.#closing) throw new Error('pocketsflow-webhooks: bullmqInbox: closed')
    await usable(this.#client)
    const jobId = encodeJobId(event.id, event.type)
    // One BullMQ script does both the "seen" check and the insert (its deduplication key, kept for
    // the retention even after the job is gone): the event is either stored and claimed, or
    // neither. A two-step claim-then-add could leave a claim without a job after a dropped
    // connection, and the re-send would then be answered "duplicate" and lost. The script is
    // idempotent for its own job id: re-sent by the client after a lost reply, it still wins.
    const job = await this.#queue.add(event.type, { event: serializeEvent(event) }, this.#jobOptions(jobId, event.id))
    // A duplicate comes back as the job id that holds the event id, which names its first type.
    if (job.id === jobId) return true
    const firstType = decodeJobIdType(job.id)
    if (firstType === undefined) return false
    // A type that had to be made storable reads back as such: the same type, all the same.
    return { firstType: firstType === storableText(event.type) ? event.type : firstType }
  }

  /** How every job of this inbox is added: by record(), and by a replay. */
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

  /** This inbox's queue and server: `bullmq redis://host:port/db <prefix>:<queueName>`. */
  get queue(): string {
    return `bullmq ${describeServer(this.#connection)} ${this.#prefix ?? 'bull'}:${this.#queueName}`
  }

  start(processor: InboxProcessor): void {
    if (this.#worker) throw new Error('pocketsflow-webhooks: bullmqInbox: start() was already called')
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
    // Past the last attempt, or after an attempt that decided the event is a dead letter (its last
    // attempt, or one that failed for good sooner, e.g. its payload failed its schema) and could not
    // write it: only the letter is left to write. Running the handlers again could repeat one
    // whose success was not recorded.
    if (attempt > processor.maxAttempts || decodeDeadLetterMarker(job.failedReason) !== undefined) {
      await this.#endPastLastAttempt(job, token, event, processor, Math.min(processor.maxAttempts, attempt - 1))
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
      await this.#deadLetters
        .remove(event.id)
        .catch((error: unknown) => this.#logger.warn({ err: error, eventId: event.id }, 'could not remove a settled dead letter'))
      return
    }
    await this.#failed(job, token, event, attempt, running, outcome)
  }

  /**
   * A job that has no completed handlers yet takes those of the event's dead letter, if it has one,
   * and the letter's event: a re-send under another (unsigned) type header still runs as the type
   * the event was first recorded under, the one its completed handlers are named after.
   */
  async #carryOverCompleted(job: Job<JobData>, token: string | undefined, event: WebhookEvent): Promise<WebhookEvent> {
    const raw = await this.#deadLetters.read(event.id)
    let data: JobData = { ...job.data, completed: [] }
    let carried = event
    if (raw !== null) {
      try {
        const letter = decodeDeadLetter(raw)
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
   * A pick-up past the last attempt: nothing is left to try. Either this job already wrote its
   * dead letter and its process died before it could fail the job, or its last attempt was cut
   * short, or writing its dead letter failed (the job's failedReason then carries a marker).
   */
  async #endPastLastAttempt(job: Job<JobData>, token: string | undefined, event: WebhookEvent, processor: InboxProcessor, attempts: number): Promise<never> {
    // This job already wrote its dead letter, and its process died before it could fail the job:
    // the letter and its error stand (reported now if it was not); only the job is left to end.
    await this.#endIfLetterWritten(job, event)
    // The last attempt started but never reported (the process died): nothing is left to try.
    const pending = decodeDeadLetterMarker(job.failedReason)
    const lastError = pending?.lastError ?? `attempt ${processor.maxAttempts} of ${processor.maxAttempts} was cut short (the process stopped or lost its lock) before it finished`
    // No attempt reported this one, so onError hears of it from here, once the dead letter is
    // written (a failure of a final attempt already reached onError from that attempt).
    const report = pending?.reported ? undefined : () => processor.deadLettered(event, attempts, new Error(lastError))
    return this.#deadLetterOrRetry(job, token, event, attempts, lastError, { completed: job.data.completed ?? [], failed: [], report })
  }

  /** Ends a job whose dead letter it already wrote (see #process); reports the letter if that is still due. */
  async #endIfLetterWritten(job: Job<JobData>, event: WebhookEvent): Promise<void> {
    const raw = await this.#deadLetters.read(event.id)
    if (raw === null) return
    let letter: StoredDeadLetter
    try {
      letter = decodeDeadLetter(raw)
    } catch {
      return
    }
    if (letter.jobId !== job.id) return
    if (letter.reportPending) await this.#reportStored(event, raw, letter)
    throw new UnrecoverableError(letter.lastError ?? 'dead letter written before the process stopped')
  }

  /** Records that one handler succeeded, fenced by the job's lock; a lost lock stops the attempt. */
  async #markCompleted(job: Job<JobData>, token: string | undefined, running: RunningAttempt, handler: string): Promise<void> {
    const held = await this.#updateDataIfLocked(job, token, { ...job.data, completed: [...(job.data.completed ?? []), handler] })
    if (!held) {
      if (!running.stoppedBy) {
        running.stoppedBy = 'lost-lock'
        running.controller.abort(new Error('the worker lost its lock on the event: another worker will run it'))
      }
      throw new Error('pocketsflow-webhooks: bullmqInbox: the lock on the event was lost; the handler will be recorded by the attempt that holds it')
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

  /** An attempt that did not succeed: given back, left to the worker that holds it, retried, or dead-lettered. */
  async #failed(
    job: Job<JobData>,
    token: string | undefined,
    event: WebhookEvent,
    attempt: number,
    running: RunningAttempt,
    outcome: Extract<InboxOutcome, { ok: false }>,
  ): Promise<never> {
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
    // Retried by BullMQ after the processor's backoff (see backoffStrategy in start()). BullMQ keeps
    // the message as the job's failedReason, where a pick-up past the last attempt looks for a
    // pending dead letter's marker: whatever a handler threw never reads as one.
    throw Object.assign(new Error(attemptFailureReason(message)), { retryInMs: outcome.retryInMs })
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
    const dedupeKey = `${this.#queue.keys['de']}:${job.deduplicationId ?? event.id}`
    const jobKey = this.#queue.toKey(job.id as string)
    let stored: string | undefined
    try {
      stored = await this.#deadLetters.write(event.id, letter, { jobId: job.id as string, dedupeKey, lockKey: `${jobKey}:lock`, token: token ?? '' })
    } catch (error) {
      this.#logger.error({ err: error, eventId: event.id }, 'could not write the dead letter; the event stays queued and this is tried again')
      // The job's next pick-up only writes the dead letter (see #process), and the marker carries
      // the real last error there (see #endPastLastAttempt). The handlers that succeeded go with
      // the job, for the letter (their early record may have failed too): best effort.
      // An unreported failure (report is set) stays unreported until the write succeeds.
      if (outcome.completed.length > (job.data.completed?.length ?? 0)) {
        await this.#updateDataIfLocked(job, token, { ...job.data, completed: outcome.completed }).catch(() => false)
      }
      const marker = encodeDeadLetterMarker({ lastError, reported: report === undefined })
      throw Object.assign(new Error(marker), { retryInMs: DEAD_LETTER_RETRY_MS })
    }
    if (stored === undefined) {
      // This worker lost its lock on the event: the one that holds it now decides, and reports.
      this.#logger.warn({ eventId: event.id, attempt: attempts }, 'lost the lock on the event before its dead letter was written; the attempt that holds it decides')
      throw new WaitingError()
    }
    this.#logger.error({ eventId: event.id, type: event.type, attempts, lastError }, 'webhook event moved to the dead letters')
    if (report) await this.#reported(event.id, stored, letter, report)
    throw new UnrecoverableError(lastError)
  }

  /** Reports a stored dead letter, then clears its reportPending (only if the letter is still that one). */
  async #reported(id: string, stored: string, letter: StoredDeadLetter, report: () => void): Promise<void> {
    report()
    try {
      await this.#deadLetters.markReported(id, stored, letter)
    } catch (error) {
      this.#logger.warn({ err: error, eventId: id }, 'could not record that a dead letter was reported; it may be reported again')
    }
  }

  /**
   * Reports a letter stored by a process that died before reporting it, with what was stored. The
   * flag is cleared first (compare-and-set): of several workers finding it, one reports it.
   */
  async #reportStored(event: WebhookEvent, stored: string, letter: StoredDeadLetter): Promise<void> {
    const cleared = await this.#deadLetters.markReported(event.id, stored, letter)
    if (cleared) this.#processor?.deadLettered(event, letter.attempts, new Error(letter.lastError ?? 'unknown error'), letter.failed)
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
      for await (const { event, stored, letter } of this.#deadLetters.unreportedOlderThan(this.#lockDurationMs)) {
        await this.#reportStored(event, stored, letter)
      }
    } catch (error) {
      this.#logError('dead letters', error)
    }
  }

  async deadLetters(options?: { limit?: number }): Promise<DeadLetter[]> {
    const limit = options?.limit ?? 50
    if (!Number.isInteger(limit) || limit < 1) throw new TypeError(`pocketsflow-webhooks: bullmqInbox.deadLetters: "limit" must be a whole number >= 1, got ${String(limit)}`)
    await usable(this.#client)
    return this.#deadLetters.list(limit)
  }

  /** The backlog for gauges: BullMQ's own job counts (waiting, delayed for a retry, running) and the dead letters. */
  async depth(): Promise<InboxDepth> {
    await usable(this.#client)
    const [counts, deadLetters] = await Promise.all([
      this.#queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active', 'waiting-children'),
      this.#deadLetters.count(),
    ])
    const pending = Object.values(counts).reduce((sum, n) => sum + (n ?? 0), 0)
    return { pending, deadLetters }
  }

  async replay(id: string): Promise<boolean> {
    if (typeof id !== 'string' || id === '') throw new TypeError('pocketsflow-webhooks: bullmqInbox.replay: "id" must be a non-empty string')
    await usable(this.#client)
    return this.#deadLetters.replay(id)
  }

  close(options?: { timeoutMs?: number }): Promise<void> {
    this.#closing ??= this.#close(options?.timeoutMs ?? Infinity)
    return this.#closing
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
      if (!(await settledWithin(finished, timeoutMs))) {
        for (const running of this.#running.values()) {
          if (running.stoppedBy) continue
          running.stoppedBy = 'close'
          running.controller.abort(new WebhookReceiverClosedError())
        }
        await settledWithin(drained, CLOSE_GRACE_MS)
      }
      if (this.#running.size > 0) {
        // Redis is unreachable, most likely: the locks of these jobs expire and another worker
        // runs them (as a new attempt). Nothing is lost.
        this.#logger.warn({ jobs: this.#running.size }, 'bullmqInbox: running events could not be given back in time; another worker takes them over once their lock expires')
      }
    }
    await settledWithin(
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

/** Both lists' names, each once. */
function union(a: readonly string[] | undefined, b: readonly string[]): string[] {
  return [...new Set([...(a ?? []), ...b])]
}

/** The delay a processor's error asks BullMQ to wait before the job's next attempt (see backoffStrategy). */
function retryDelayOf(error: Error | undefined): number {
  const delay = (error as { retryInMs?: unknown } | undefined)?.retryInMs
  return typeof delay === 'number' && Number.isFinite(delay) && delay >= 0 ? delay : DEAD_LETTER_RETRY_MS
}
