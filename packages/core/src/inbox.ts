import type { ClaimResult } from './dedupe/store.js'
import type { WebhookEvent } from './event.js'
import type { Logger } from './types.js'

/**
 * How long a durable store remembers an event id (30 days), for every engine: the Pocketsflow
 * signature covers the body only, not its timestamp, so a body captured once can be replayed later
 * with a fresh timestamp, and only the dedupe refuses it, for as long as it remembers the id.
 */
export const DEFAULT_RETENTION_MS = 30 * 24 * 60 * 60 * 1000

/**
 * A durable inbox: the receiver records each verified event in it before answering 200, and the
 * inbox's workers run the handlers later, with retries that survive a crash. The engines
 * (`@pocketsflow-webhooks/redis`, `@pocketsflow-webhooks/postgres`) implement this interface; the
 * adapters never see it, they only pass `inbox` through to the core receiver.
 */
export interface WebhookInbox {
  /**
   * Names the queue or table and the server it is on (e.g. `bullmq redis://127.0.0.1:6379/0
   * bull:pocketsflow-webhooks`). Optional; with it, two receivers with different handlers are
   * refused one queue within a process (each would run the other's events).
   */
  readonly queue?: string
  /**
   * Stores the event durably. Resolves `true` when it was recorded (new, or a dead letter of the
   * same id queued again), otherwise it is a duplicate (the id is known within the retention):
   * `false`, or better `{ firstType }`, the type it was first recorded under (see `DedupeStore`).
   * Rejects when storage failed: the receiver then answers 503 and acknowledges nothing.
   */
  record(event: WebhookEvent): Promise<ClaimResult>
  /** Starts the workers that run `processor` on recorded events. Called once. */
  start(processor: InboxProcessor): void | Promise<void>
  /**
   * Stops taking new work and waits for running attempts; after `timeoutMs` they are aborted and
   * their events released for another worker (not counted as failed). Then closes connections.
   */
  close(options?: { timeoutMs?: number }): Promise<void>
  /** Events whose handlers failed their last attempt, newest first, with payload and last error. */
  deadLetters(options?: { limit?: number }): Promise<DeadLetter[]>
  /** Queues a dead letter again, attempts starting from 1. `false` if no dead letter has that id. */
  replay(id: string): Promise<boolean>
  /**
   * How many events wait (pending, retrying or running) and how many are dead letters, counted in
   * the store (for gauges; cheap enough to read at every scrape). Optional.
   */
  depth?(): Promise<InboxDepth>
}

/** An inbox's backlog, as `WebhookInbox.depth()` counts it. */
export interface InboxDepth {
  /** Recorded and not finished: waiting, waiting for a retry, or running. */
  readonly pending: number
  readonly deadLetters: number
}

/** One attempt at an event, as an inbox's worker hands it to the processor. */
export interface InboxAttempt {
  readonly event: WebhookEvent
  /** 1 for the first run. A run cut short by a crash or a lost lease counted as an attempt. */
  readonly attempt: number
  /** Handlers that succeeded in an earlier attempt: they are not run again. */
  readonly completed?: readonly string[]
  /**
   * Persists that one handler succeeded, so a retry (after a failure, a crash or a replay) skips
   * it. Called for every success except the one that completes the event (the inbox then marks
   * the event done as a whole); a failure to persist is logged, not fatal.
   */
  readonly markCompleted?: (handler: string) => Promise<void>
  /** Aborted when the inbox closes or loses its claim on the event: reaches the handlers' `ctx.signal`. */
  readonly signal?: AbortSignal
}

export type InboxOutcome =
  | { readonly ok: true }
  | {
      readonly ok: false
      /** The (first) failing handler's error, for the dead letter. */
      readonly error: unknown
      /** No attempt follows: store the event as a dead letter, then call `report()`. */
      readonly final: boolean
      /** When `final` is false: how long to wait before the next attempt. */
      readonly retryInMs: number
      /**
       * The attempt's `signal` aborted it (the inbox is closing, or lost its claim): not a failure
       * of the handlers. `final` is then false and `onError` is not due; give the event back
       * without counting the attempt (or leave it to whoever holds the claim now).
       */
      readonly interrupted: boolean
      /**
       * Interrupted while a handler that ignores its signal was still running: it may run on, so do
       * not hand the event back at once (another worker would run it beside it). Let the claim lapse.
       */
      readonly abandoned: boolean
      /** Handlers that succeeded in this attempt: store them with the outcome (an early record may have failed). */
      readonly completed: readonly string[]
      /** Handlers that failed in this attempt: the dead letter's, when `final`. */
      readonly failed: readonly string[]
      /**
       * When `final`: reports the failure (`onError`, once per failed handler). Call it once the dead
       * letter is stored, never before: a crash in between must not leave a report that the stored
       * event contradicts. A no-op otherwise.
       */
      readonly report: () => void
    }

/** The receiver's handlers, retry policy and time limit, packaged for an inbox's workers. */
export interface InboxProcessor {
  /** Attempts per event, the first included (the receiver's `retry.maxAttempts`). */
  readonly maxAttempts: number
  /** Time limit of one handler attempt (the receiver's `handlerTimeoutMs`); size leases from it. */
  readonly attemptTimeoutMs: number
  readonly logger: Logger
  /** Runs every handler not yet completed, once. Never rejects. */
  run(attempt: InboxAttempt): Promise<InboxOutcome>
  /**
   * The inbox dead-lettered an event without a final attempt reporting it: the process running its
   * last attempt died, or died after storing the dead letter and before `report()` (then pass the
   * failed `handlers` and the stored error). Reaches `onError`, like every other event that failed
   * for good. Never throws.
   */
  deadLettered(event: WebhookEvent, attempts: number, error: unknown, handlers?: readonly string[]): void
}

/** An event that failed its last attempt, kept with its payload until replayed. */
export interface DeadLetter {
  readonly id: string
  readonly type: string
  readonly attempts: number
  /** The last error's message. */
  readonly lastError: string | undefined
  readonly failedAt: Date
  readonly event: WebhookEvent
  /** Handlers that succeeded before the event failed: a replay does not run them again. */
  readonly completedHandlers?: readonly string[]
  /** Handlers that failed their last attempt (in memory; an inbox knows the completed ones). */
  readonly failedHandlers?: readonly string[]
}
