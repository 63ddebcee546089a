import { WebhookHandlerError, WebhookHandlerTimeoutError, WebhookReceiverClosedError, WebhookValidationError } from './errors.js'
import type { WebhookEvent } from './event.js'
import { Deadlines } from './deadlines.js'
import type { HandlerTable, NamedHandler } from './handlers.js'
import { isThenable, type MaybePromise } from './realm.js'
import type { InboxAttempt, InboxDepth, InboxOutcome } from './inbox.js'
import type { Logger, Provider } from './types.js'

export interface RetryOptions {
  /** Attempts per handler, the first included (default 3). 1 = no retry. */
  maxAttempts?: number
  /** Delay before the first retry in ms (default 1000); doubles (see `factor`) on each retry. */
  minDelayMs?: number
  /** Upper bound of a single delay in ms (default 60 000). */
  maxDelayMs?: number
  /** Growth factor of the delay (default 2). */
  factor?: number
  /** Spread each delay randomly over [delay/2, delay] so failing instances don't retry in lockstep (default true). */
  jitter?: boolean
}

export interface HandlerContext {
  /** Aborted when the attempt times out or the receiver is closing: pass it to fetch, database calls, … */
  readonly signal: AbortSignal
  /** 1 for the first attempt. */
  readonly attempt: number
  readonly logger: Logger
}

export type EventHandler<E = WebhookEvent> = (event: E, ctx: HandlerContext) => unknown

/** Observability hooks: count, log and alert. Errors they throw are logged and otherwise ignored. */
export interface ReceiverHooks<E = WebhookEvent> {
  /** A verified, new event was acknowledged. */
  accepted?(event: E): void
  /**
   * A verified event was acknowledged but had been seen before: handlers do not run again.
   * `firstType` is the type it was first accepted under, when the store remembers it: a different
   * one means someone re-sent the body under another (unsigned) type header.
   */
  duplicate?(event: E, info: { firstType: string | undefined }): void
  /** A verified event was acknowledged and deliberately not processed: a test-mode event under `testMode: 'ignore'`. */
  ignored?(event: E, info: { reason: 'test_mode' }): void
  /** A delivery was refused; `reason` is a stable code. */
  rejected?(info: { reason: string; status: number; skewSeconds?: number; provider: Provider }): void
  /** Every handler of an event succeeded. `attempts`: the attempt in which the last one did. */
  handled?(event: E, info: { attempts: number; durationMs: number }): void
  /**
   * One attempt of one handler failed, or passed its time limit (the error is then a
   * `WebhookHandlerTimeoutError`, reported once, when the limit passes); `willRetry` says whether
   * another attempt is due.
   */
  failed?(error: unknown, event: E, info: { handler: string; attempt: number; willRetry: boolean }): void
  /** An event failed for good and was kept as a dead letter, in memory or, once stored, in the inbox. */
  deadLettered?(event: E, info: { attempts: number; handlers: readonly string[] }): void
  /**
   * One attempt of one handler settled: `ok`, `failed`, or `timeout` (it failed by passing its time
   * limit), with how long it ran. For duration histograms; `failed` says more about failures.
   */
  attempted?(event: E, info: { handler: string; attempt: number; outcome: 'ok' | 'failed' | 'timeout'; durationMs: number }): void
  /**
   * The receiver answered a request: its status, what became of it, and how long the receiver took
   * from first seeing the request (its headers) to the answer. Not called for the refusals an
   * adapter decides before the receiver sees the request (a body over the limit, unreadable).
   */
  answered?(info: {
    status: number
    outcome: 'accepted' | 'duplicate' | 'rejected' | 'ignored'
    reason: string | undefined
    durationMs: number
    provider: Provider
    /** The verified event, when there is one (accepted, duplicate). */
    event: E | undefined
  }): void
  /**
   * A verified event is about to be claimed or recorded: what this returns (a trace context, as
   * strings) goes with it. With a durable inbox it is stored with the event, and the worker's copy
   * gives it back (`carriedWith(event)`), so that its spans can link to the receiving one.
   */
  carry?(event: E): Readonly<Record<string, string>> | undefined
  /** Called once, when the receiver or inbox worker starts: live readings, for gauges. */
  observe?(source: HookSource): void
}

/** What `observe` hands over: read it when a gauge is collected. */
export interface HookSource {
  readonly provider: Provider
  /** In-memory dispatch right now (absent for an inbox worker of its own). */
  stats?(): { readonly running: number; readonly waiting: number; readonly deadLetters: number }
  /** With an inbox that can count (both shipped ones do): its backlog, read from the store. */
  inboxDepth?(): Promise<InboxDepth>
  /** The inbox itself, for identity: a receiver and a worker on one inbox report one backlog. */
  readonly inbox?: object
}

/** What an event that failed for good leaves behind: enough to list it and run its failed handlers again. */
export interface FailedEvent {
  readonly event: WebhookEvent
  readonly attempts: number
  /** Handlers that never succeeded, in run order. */
  readonly failed: readonly string[]
  /** Handlers that succeeded (earlier runs included): a replay skips them. */
  readonly completed: readonly string[]
  /** The first failing handler's last error. */
  readonly error: unknown
}

export interface DispatcherOptions {
  handlers: HandlerTable
  onError: ((error: WebhookHandlerError, event: WebhookEvent) => unknown) | undefined
  retry: RetryOptions | false | undefined
  timeoutMs: number | undefined
  /** In-memory dispatch: events whose handlers run at once (default 10). */
  concurrency?: number | undefined
  logger: Logger
  /** Whether debug records are wanted: they are built per event, so skip them when not. */
  debug: boolean
  hooks: ReceiverHooks
  /** In memory: keeps an event that failed for good. Called before `onError` hears of it. */
  keepDeadLetter?: (failure: FailedEvent) => void
}

export const DEFAULT_HANDLER_TIMEOUT_MS = 30_000
export const DEFAULT_CONCURRENCY = 10
/** setTimeout's limit: a longer delay fires after 1 ms instead, so longer values are refused. */
export const MAX_TIMER_MS = 2_147_483_647
const DEFAULT_RETRY: Required<RetryOptions> = {
  maxAttempts: 3,
  minDelayMs: 1000,
  maxDelayMs: 60_000,
  factor: 2,
  jitter: true,
}

function resolveRetry(retry: RetryOptions | false | undefined): Required<RetryOptions> {
  if (retry === false) return { ...DEFAULT_RETRY, maxAttempts: 1 }
  const r = { ...DEFAULT_RETRY, ...retry }
  if (!Number.isInteger(r.maxAttempts) || r.maxAttempts < 1) {
    throw new TypeError('pocketsflow-webhooks: retry.maxAttempts must be an integer >= 1')
  }
  if (!(r.minDelayMs >= 0) || !(r.maxDelayMs >= r.minDelayMs) || !(r.maxDelayMs <= MAX_TIMER_MS) || !(r.factor >= 1)) {
    throw new TypeError(
      `pocketsflow-webhooks: retry needs 0 <= minDelayMs <= maxDelayMs <= ${MAX_TIMER_MS} and factor >= 1`,
    )
  }
  return r
}

function resolveConcurrency(concurrency: number | undefined): number {
  const value = concurrency ?? DEFAULT_CONCURRENCY
  if (!(Number.isInteger(value) && value >= 1) && value !== Infinity) {
    throw new TypeError('pocketsflow-webhooks: "concurrency" must be an integer >= 1 (or Infinity for no limit)')
  }
  return value
}

/** Delay before retry number `retry` (1-based). */
export function backoffDelay(retry: number, options: Required<RetryOptions>, random: () => number = Math.random): number {
  const base = Math.min(options.maxDelayMs, options.minDelayMs * options.factor ** (retry - 1))
  return options.jitter ? base / 2 + (base / 2) * random() : base
}

/** Milliseconds, finer than Date.now where the runtime has performance.now (handlers often take less than one). */
export const clock: () => number = typeof performance === 'object' && typeof performance.now === 'function' ? () => performance.now() : Date.now

/** Calls a user hook without letting it break the pipeline. */
export function callHook(logger: Logger, name: string, fn: (() => unknown) | undefined): void {
  if (!fn) return
  try {
    const result = fn()
    if (isThenable(result)) Promise.resolve(result).catch((error: unknown) => logger.error({ err: error, hook: name }, `the ${name} hook threw`))
  } catch (error) {
    logger.error({ err: error, hook: name }, `the ${name} hook threw`)
  }
}

/** One handler that failed in an attempt. */
interface Failure {
  readonly handler: NamedHandler
  readonly error: unknown
  /** It was stopped (by the inbox's signal, or close()) while still running: it may run on. */
  readonly abandoned?: boolean
}

/** What one attempt at an event came to. */
interface AttemptResult {
  /** The handlers that failed, in run order; undefined when none did. */
  readonly failures: readonly Failure[] | undefined
  /** The inbox's signal stopped the attempt before every handler had run. */
  readonly interrupted: boolean
  /** Interrupted while a handler that ignores its signal was still running. */
  readonly abandoned?: boolean
  /** With an inbox: the handlers that succeeded in this attempt. */
  readonly succeeded?: readonly string[]
}

const SUCCEEDED: AttemptResult = /* @__PURE__ */ Object.freeze({ failures: undefined, interrupted: false })

/**
 * A failure another attempt cannot change: the payload failed its type's schema. An attempt whose
 * failures are all of this kind is the last (the event becomes a dead letter at once); beside a
 * failure that may pass, the handler is checked again with the retry, and fails again.
 */
const isPermanent = (failure: Failure): boolean => failure.error instanceof WebhookValidationError
const noReport = (): void => {}

/** An event being dispatched in memory, from its first attempt to its outcome. */
interface EventRun {
  readonly event: WebhookEvent
  /** Handlers still to succeed. */
  todo: readonly NamedHandler[]
  /** Handlers that have succeeded, earlier runs (a replay's) included. */
  readonly completed: string[]
  /** The attempt about to be made (or being made). */
  attempt: number
  /** When dispatch began, for the `handled` hook (0 when nobody reads it). */
  readonly startedAt: number
  /** Set once the run had to wait (for a slot or a retry): settles its promise. */
  finish?: (outcome: MaybePromise<boolean>) => void
}

/** The in-process side of an inbox attempt: where it reports, and what stops it. */
interface InboxSide {
  readonly signal: AbortSignal | undefined
  /** Records one handler's success before the others have run (or after one failed). */
  readonly markCompleted: ((handler: string) => Promise<void>) | undefined
}

/**
 * Runs an event's handlers after the acknowledgement, in order: the typed ones for its type, then
 * the catch-alls. An attempt runs each handler that has not succeeded yet, once; failed ones are
 * retried after a backoff, and a handler that succeeded never runs again for that event. Two
 * attempts at one event never overlap: an attempt ends when its handlers have settled, not when
 * their time limit passes (that aborts their signal and is reported; a handler that ignores it
 * holds its event until it settles, and if it then succeeded, it counts as succeeded).
 *
 * In memory (`dispatch`), at most `concurrency` events run at once; the rest wait in order, and
 * an event that failed for good is handed to `keepDeadLetter`. With a durable inbox
 * (`runAttempt`), the inbox does the waiting, the retrying and the keeping, so that they survive
 * a crash.
 */
export class Dispatcher {
  readonly #options: DispatcherOptions
  readonly #handlers: HandlerTable
  readonly #policy: Required<RetryOptions>
  /** Per attempt, or Infinity for none. */
  readonly #timeoutMs: number
  readonly #concurrency: number
  readonly #deadlines: Deadlines | undefined
  #stopped = false
  /** In-memory events in an attempt now. */
  #active = 0
  /** In-memory events waiting for a slot, in arrival order, from #waitingHead. */
  #waiting: (EventRun | undefined)[] = []
  #waitingHead = 0
  #starting = false
  // Running in-memory attempts and retry waits, so stop() can cut them short (one entry each, not a
  // listener per attempt on a shared signal).
  readonly #running = new Set<Attempt>()
  readonly #sleeping = new Set<() => void>()
  /** Timeout errors already reported to the `failed` hook when the limit passed: not reported twice. */
  readonly #reportedTimeouts = new WeakSet<object>()
  readonly #overran = (attempt: Attempt, error: WebhookHandlerTimeoutError, overMs: number) => this.#reportOverrun(attempt, error, overMs)

  constructor(options: DispatcherOptions) {
    this.#options = options
    this.#handlers = options.handlers
    this.#policy = resolveRetry(options.retry)
    this.#concurrency = resolveConcurrency(options.concurrency)
    const timeoutMs = options.timeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS
    if (!(timeoutMs > 0) || (timeoutMs > MAX_TIMER_MS && timeoutMs !== Infinity)) {
      throw new TypeError(`pocketsflow-webhooks: "handlerTimeoutMs" must be > 0 and <= ${MAX_TIMER_MS}, or Infinity for no limit`)
    }
    this.#timeoutMs = timeoutMs
    this.#deadlines = timeoutMs === Infinity ? undefined : new Deadlines(timeoutMs)
  }

  get maxAttempts(): number {
    return this.#policy.maxAttempts
  }

  get timeoutMs(): number {
    return this.#timeoutMs
  }

  /** How many handlers there are: 0 means this process only records. */
  get handlerCount(): number {
    return this.#handlers.count
  }

  /** In-memory events in an attempt now, and waiting for a slot. */
  get stats(): { running: number; waiting: number } {
    return { running: this.#active, waiting: this.#waiting.length - this.#waitingHead }
  }

  /**
   * Stops waiting: close() ran out of time. Running attempts are aborted, retries and waiting
   * events are given up; each reaches onError with a WebhookReceiverClosedError.
   */
  stop(): void {
    this.#stopped = true
    const reason = new WebhookReceiverClosedError()
    for (const attempt of this.#running) attempt.stop(reason)
    for (const wake of this.#sleeping) wake()
    while (this.#waitingHead < this.#waiting.length) {
      const run = this.#takeWaiting()
      run.finish?.(this.#gaveUp(run, this.#closedFailures(run), run.attempt - 1))
    }
  }

  // --- in memory -----------------------------------------------------------------------------

  /**
   * Runs an event's handlers in this process, skipping `completed` ones (a replay's), with
   * retries. Resolves true once all succeeded, false once the event failed for good (kept as a
   * dead letter, reported to onError). While every handler finishes synchronously and a slot is
   * free, the outcome is returned as it is, with no promise. Never throws, never rejects.
   */
  dispatch(event: WebhookEvent, completed?: readonly string[]): MaybePromise<boolean> {
    const all = this.#handlers.forType(event.type)
    const todo = completed && completed.length > 0 ? all.filter((h) => !completed.includes(h.name)) : all
    // The duration is only reported to the `handled` hook and debug logs: no clock read otherwise.
    const startedAt = this.#options.debug || this.#options.hooks.handled ? Date.now() : 0
    if (todo.length === 0) return this.#succeeded(event, 0, startedAt)
    const run: EventRun = { event, todo, completed: completed ? [...completed] : [], attempt: 1, startedAt }
    if (this.#stopped) return this.#gaveUp(run, this.#closedFailures(run), 0)
    if (this.#active < this.#concurrency && this.#waitingHead === this.#waiting.length) return this.#attemptInSlot(run)
    return this.#wait(run)
  }

  #attemptInSlot(run: EventRun): MaybePromise<boolean> {
    this.#active++
    const result = this.#attemptHandlers(run.event, run.todo, run.attempt, undefined)
    if (!isThenable(result)) {
      this.#active--
      // A synchronous handler may have queued events of its own (by re-entering the receiver).
      this.#startWaiting()
      return this.#afterAttempt(run, result)
    }
    return result.then((settled) => {
      this.#active--
      this.#startWaiting()
      return this.#afterAttempt(run, settled)
    })
  }

  #afterAttempt(run: EventRun, result: AttemptResult): MaybePromise<boolean> {
    const failures = result.failures
    if (failures === undefined) return this.#succeeded(run.event, run.attempt, run.startedAt)
    for (const handler of run.todo) if (!failures.some((f) => f.handler === handler)) run.completed.push(handler.name)
    if (run.attempt >= this.#policy.maxAttempts || this.#stopped || failures.every(isPermanent)) return this.#gaveUp(run, failures, run.attempt)
    run.todo = failures.map((f) => f.handler)
    const delay = backoffDelay(run.attempt, this.#policy)
    run.attempt++
    return this.#sleep(delay).then(() => {
      if (this.#stopped) return this.#gaveUp(run, failures, run.attempt - 1)
      // A retry queues behind the events that arrived meanwhile.
      return this.#wait(run)
    })
  }

  /** Queues a run for a slot; resolves with its outcome. */
  #wait(run: EventRun): Promise<boolean> {
    const done = new Promise<boolean>((resolve) => {
      run.finish = resolve
    })
    this.#waiting.push(run)
    this.#startWaiting()
    return done
  }

  /** Starts waiting events while slots are free, oldest first. */
  #startWaiting(): void {
    // Not re-entered: a run that finishes synchronously inside the loop leaves its slot to the loop,
    // which would otherwise recurse once per such run.
    if (this.#starting) return
    this.#starting = true
    try {
      while (this.#active < this.#concurrency && this.#waitingHead < this.#waiting.length) {
        const run = this.#takeWaiting()
        run.finish?.(this.#attemptInSlot(run))
      }
    } finally {
      this.#starting = false
    }
  }

  #takeWaiting(): EventRun {
    const run = this.#waiting[this.#waitingHead] as EventRun
    this.#waiting[this.#waitingHead++] = undefined
    if (this.#waitingHead === this.#waiting.length) {
      this.#waiting = []
      this.#waitingHead = 0
    } else if (this.#waitingHead > 1024 && this.#waitingHead * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#waitingHead)
      this.#waitingHead = 0
    }
    return run
  }

  #closedFailures(run: EventRun): Failure[] {
    const error = new WebhookReceiverClosedError()
    return run.todo.map((handler) => ({ handler, error }))
  }

  #succeeded(event: WebhookEvent, attempts: number, startedAt: number): true {
    const { hooks, logger, debug } = this.#options
    if (debug || hooks.handled) {
      const durationMs = startedAt === 0 ? 0 : Date.now() - startedAt
      if (debug) logger.debug({ eventId: event.id, type: event.type, attempts, durationMs }, 'webhook handled')
      if (hooks.handled) callHook(logger, 'handled', () => hooks.handled?.(event, { attempts, durationMs }))
    }
    return true
  }

  /** The event failed for good: kept as a dead letter first, then reported, once per failed handler. */
  #gaveUp(run: EventRun, failures: readonly Failure[], attempts: number): false {
    const { logger, hooks, keepDeadLetter } = this.#options
    const failed = failures.map((f) => f.handler.name)
    if (keepDeadLetter) {
      try {
        keepDeadLetter({ event: run.event, attempts, failed, completed: run.completed, error: (failures[0] as Failure).error })
      } catch (error) {
        logger.error({ err: error, eventId: run.event.id }, 'could not keep the dead letter')
      }
      callHook(logger, 'deadLettered', hooks.deadLettered && (() => hooks.deadLettered?.(run.event, { attempts, handlers: failed })))
    }
    for (const failure of failures) this.#reportGaveUp(failure.handler.name, run.event, attempts, failure.error)
    return false
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#stopped) return resolve()
      const wake = () => {
        clearTimeout(timer)
        this.#sleeping.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.#sleeping.add(wake)
    })
  }

  // --- with a durable inbox ------------------------------------------------------------------

  /**
   * One attempt of a durable inbox's event: each handler not yet completed runs once; the inbox
   * does the retrying (its retries survive a crash, in-memory ones would not).
   */
  async runAttempt(job: InboxAttempt): Promise<InboxOutcome> {
    const startedAt = Date.now()
    const { event, attempt, completed, signal } = job
    const final = attempt >= this.#policy.maxAttempts
    const all = this.#handlers.forType(event.type)
    const todo = completed && completed.length > 0 ? all.filter((h) => !completed.includes(h.name)) : all
    const result = await this.#attemptHandlers(event, todo, attempt, { signal, markCompleted: job.markCompleted })
    const { failures } = result
    if (failures === undefined && !result.interrupted) {
      this.#succeeded(event, attempt, startedAt)
      return { ok: true }
    }
    const outcome = {
      ok: false as const,
      error: failures?.[0]?.error ?? signal?.reason,
      completed: result.succeeded ?? [],
      failed: failures?.map((f) => f.handler.name) ?? [],
      abandoned: result.abandoned === true,
    }
    // The inbox stopped the attempt (closing, or its claim on the event passed to another worker):
    // not the handlers' failure, so no retry bookkeeping and no onError here; the inbox gives the
    // event back. Unless a handler had already failed in the last attempt: that has been decided.
    if (result.interrupted && !(final && failures)) {
      this.#options.logger.warn({ eventId: event.id, type: event.type, attempt }, 'webhook handler attempt interrupted')
      return { ...outcome, final: false, retryInMs: 0, interrupted: true, report: noReport }
    }
    const failed = failures as readonly Failure[]
    const last = final || failed.every(isPermanent)
    return {
      ...outcome,
      final: last,
      retryInMs: last ? 0 : backoffDelay(attempt, this.#policy),
      interrupted: false,
      // Called by the inbox once the dead letter is stored: a crash in between must not leave an
      // onError behind that the stored event contradicts.
      report: last
        ? () => {
            failed.forEach((f) => this.#reportGaveUp(f.handler.name, event, attempt, f.error))
            this.#reportDeadLettered(event, attempt, failed.map((f) => f.handler.name))
          }
        : noReport,
    }
  }

  /**
   * An inbox gave up on an event outside an attempt: the process running its last attempt died, or
   * died after storing the dead letter and before reporting it (`handlers` then names the handlers
   * that failed, and `error` is the stored last error). Reaches onError once per handler.
   */
  deadLettered(event: WebhookEvent, attempts: number, error: unknown, handlers?: readonly string[]): void {
    const failed = handlers && handlers.length > 0 ? handlers : ['inbox']
    for (const handler of failed) this.#reportGaveUp(handler, event, attempts, error)
    this.#reportDeadLettered(event, attempts, failed)
  }

  #reportDeadLettered(event: WebhookEvent, attempts: number, handlers: readonly string[]): void {
    const { hooks, logger } = this.#options
    callHook(logger, 'deadLettered', hooks.deadLettered && (() => hooks.deadLettered?.(event, { attempts, handlers })))
  }

  // --- one attempt, both ways ----------------------------------------------------------------

  /**
   * Runs each handler of `todo` once, in order. Synchronous while the handlers are (in memory); from
   * the first one that returns a promise, a promise. Never throws, never rejects.
   */
  #attemptHandlers(event: WebhookEvent, todo: readonly NamedHandler[], attempt: number, inbox: InboxSide | undefined): MaybePromise<AttemptResult> {
    if (inbox?.signal?.aborted) return { failures: undefined, interrupted: true }
    let failures: Failure[] | undefined
    for (let i = 0; i < todo.length; i++) {
      const outcome = this.#runHandler(todo[i] as NamedHandler, event, attempt, inbox)
      if (isThenable(outcome) || inbox) return this.#finishAttempt(event, todo, attempt, inbox, i, outcome, failures)
      if (outcome) (failures ??= []).push(this.#failed(outcome, event, attempt, false))
    }
    return failures ? { failures, interrupted: false } : SUCCEEDED
  }

  /** The rest of #attemptHandlers once it is asynchronous: handler `i` is under way. */
  async #finishAttempt(
    event: WebhookEvent,
    todo: readonly NamedHandler[],
    attempt: number,
    inbox: InboxSide | undefined,
    i: number,
    running: MaybePromise<Failure | undefined>,
    failures: Failure[] | undefined,
  ): Promise<AttemptResult> {
    // With an inbox, the successes of this attempt go back with its outcome too: the inbox writes
    // them with it, in case an early record (markCompleted) failed.
    const succeeded: string[] | undefined = inbox ? [] : undefined
    for (;;) {
      const failure = await running
      // The inbox stopped the attempt: the handler it cut short did not fail, it was interrupted.
      if (failure && inbox?.signal?.aborted) return { failures, interrupted: true, abandoned: failure.abandoned === true, succeeded }
      if (failure) (failures ??= []).push(this.#failed(failure, event, attempt, inbox !== undefined))
      else {
        const name = (todo[i] as NamedHandler).name
        succeeded?.push(name)
        // Recorded at once unless this success completes the event (the inbox then marks the event
        // done as a whole): a retry after a crash must not run it again.
        if (inbox?.markCompleted && (i < todo.length - 1 || failures !== undefined)) await this.#markCompleted(inbox.markCompleted, name, event)
      }
      if (++i === todo.length) return failures ? { failures, interrupted: false, succeeded } : SUCCEEDED
      if (inbox?.signal?.aborted) return { failures, interrupted: true, succeeded }
      running = this.#runHandler(todo[i] as NamedHandler, event, attempt, inbox)
    }
  }

  /** One handler's attempt, as its failure (undefined: it succeeded), now or later. */
  #runHandler(handler: NamedHandler, event: WebhookEvent, attempt: number, inbox: InboxSide | undefined): MaybePromise<Failure | undefined> {
    // In memory, stop() has ended the run: what is left did not succeed.
    if (this.#stopped && !inbox) return { handler, error: new WebhookReceiverClosedError() }
    // The clock is read only for the `attempted` hook.
    const startedAt = this.#options.hooks.attempted ? clock() : undefined
    const ctx = new Attempt(handler.name, event, attempt, inbox !== undefined, this.#options.logger, this.#timeoutMs, this.#overran)
    let outcome: MaybePromise<Failure | undefined>
    try {
      const running = this.#attempt(ctx, handler, event, inbox)
      outcome = running?.then(
        () => undefined,
        (error: unknown) => ({ handler, error, abandoned: !ctx.settled }),
      )
    } catch (error) {
      outcome = { handler, error }
    }
    if (startedAt === undefined) return outcome
    if (!isThenable(outcome)) return this.#reportAttempted(event, handler, attempt, startedAt, outcome)
    return outcome.then((settled) => this.#reportAttempted(event, handler, attempt, startedAt, settled))
  }

  #reportAttempted(event: WebhookEvent, handler: NamedHandler, attempt: number, startedAt: number, failure: Failure | undefined): Failure | undefined {
    const { hooks, logger } = this.#options
    const outcome = failure === undefined ? 'ok' : failure.error instanceof WebhookHandlerTimeoutError ? 'timeout' : 'failed'
    const durationMs = clock() - startedAt
    callHook(logger, 'attempted', () => hooks.attempted?.(event, { handler: handler.name, attempt, outcome, durationMs }))
    return failure
  }

  async #markCompleted(markCompleted: (handler: string) => Promise<void>, name: string, event: WebhookEvent): Promise<void> {
    try {
      await markCompleted(name)
    } catch (error) {
      this.#options.logger.warn({ err: error, eventId: event.id, handler: name }, 'could not record that a handler succeeded; a retry may run it again')
    }
  }

  /**
   * Runs one attempt of one handler. Returns undefined when it finished synchronously, a promise
   * that resolves when it succeeded and rejects with its error (or the stop reason), or throws its
   * synchronous error.
   */
  #attempt(ctx: Attempt, handler: NamedHandler, event: WebhookEvent, inbox: InboxSide | undefined): Promise<void> | undefined {
    // The time limit counts from here, but is only set once the handler turns out to be still
    // running: one that returns without a promise needs no deadline and nothing stop() can reach.
    const startedAt = this.#deadlines ? Date.now() : 0
    const signal = inbox?.signal
    const onAbort = signal && (() => ctx.stop(signal.reason ?? new WebhookReceiverClosedError()))
    if (onAbort) signal.addEventListener('abort', onAbort, { once: true })
    let result: unknown
    try {
      result = handler.run(event, ctx)
    } catch (error) {
      if (onAbort) signal.removeEventListener('abort', onAbort)
      throw error
    }
    if (!isThenable(result)) {
      if (onAbort) signal.removeEventListener('abort', onAbort)
      return undefined
    }
    if (!inbox) this.#running.add(ctx)
    const deadline = this.#deadlines?.start(ctx, startedAt)
    const finish = () => {
      if (deadline) this.#deadlines?.finish(deadline)
      if (onAbort) signal.removeEventListener('abort', onAbort)
      this.#running.delete(ctx)
    }
    const waiting = ctx.wait(result)
    waiting.then(finish, finish)
    return waiting
  }

  // --- reporting -----------------------------------------------------------------------------

  /** Reports a handler's failed attempt as it happens (once: a timeout was reported when its limit passed). */
  #failed(failure: Failure, event: WebhookEvent, attempt: number, viaInbox: boolean): Failure {
    const { error } = failure
    if (typeof error !== 'object' || error === null || !this.#reportedTimeouts.has(error)) {
      this.#reportFailed(error, event, failure.handler.name, attempt, !isPermanent(failure) && this.#willRetry(attempt, viaInbox))
    }
    return failure
  }

  /** Whether a failure in this attempt is followed by another (as far as can be told now). */
  #willRetry(attempt: number, viaInbox: boolean): boolean {
    return attempt < this.#policy.maxAttempts && (viaInbox || !this.#stopped)
  }

  #reportFailed(error: unknown, event: WebhookEvent, handler: string, attempt: number, willRetry: boolean): void {
    const { logger, hooks } = this.#options
    logger.warn({ eventId: event.id, type: event.type, handler, attempt, willRetry, err: error }, 'webhook handler attempt failed')
    callHook(logger, 'failed', hooks.failed && (() => hooks.failed?.(error, event, { handler, attempt, willRetry })))
  }

  /** A handler passed its time limit (again, when `overMs` > 0) and is still running. */
  #reportOverrun(attempt: Attempt, error: WebhookHandlerTimeoutError, overMs: number): void {
    const { event, handler } = attempt
    if (overMs === 0) {
      this.#reportedTimeouts.add(error)
      this.#reportFailed(error, event, handler, attempt.attempt, this.#willRetry(attempt.attempt, attempt.viaInbox))
    }
    this.#options.logger.error(
      { eventId: event.id, type: event.type, handler, attempt: attempt.attempt, timeoutMs: this.#timeoutMs, overMs },
      'webhook handler still running past its time limit: it did not stop when ctx.signal aborted, so its event waits for it (no other attempt runs beside it)',
    )
  }

  #reportGaveUp(handler: string, event: WebhookEvent, attempts: number, lastError: unknown): void {
    const { logger, onError } = this.#options
    // A schema failure is its own report (its issues); anything else is wrapped with the attempts.
    const failure = lastError instanceof WebhookValidationError ? lastError : new WebhookHandlerError(event, handler, attempts, lastError)
    logger.error({ eventId: event.id, type: event.type, handler, attempts, err: lastError }, 'webhook handling failed for good')
    callHook(logger, 'onError', onError && (() => onError(failure, event)))
  }
}

/**
 * One attempt of one handler: the handler's `ctx`, the entry of its deadline and its stop switch
 * in one object, so an attempt allocates this and the wait, not a closure for each role.
 */
class Attempt implements HandlerContext {
  readonly handler: string
  readonly event: WebhookEvent
  readonly attempt: number
  readonly viaInbox: boolean
  readonly logger: Logger
  readonly #timeoutMs: number
  readonly #overran: (attempt: Attempt, error: WebhookHandlerTimeoutError, overMs: number) => void
  // Made only if the handler reads ctx.signal: creating one costs more than the rest of an
  // attempt's bookkeeping, and most handlers never look.
  #controller: AbortController | undefined
  #abortedWith: unknown
  /** Set once the time limit passed: a late failure is this timeout. */
  #timeout: WebhookHandlerTimeoutError | undefined
  #reminder: ReturnType<typeof setInterval> | undefined
  #stoppedWith: unknown
  #stopWaiting: ((reason: unknown) => void) | undefined
  /** The handler's promise has settled (it may be stopped before: then it may still be running). */
  settled = false

  constructor(
    handler: string,
    event: WebhookEvent,
    attempt: number,
    viaInbox: boolean,
    logger: Logger,
    timeoutMs: number,
    overran: (attempt: Attempt, error: WebhookHandlerTimeoutError, overMs: number) => void,
  ) {
    this.handler = handler
    this.event = event
    this.attempt = attempt
    this.viaInbox = viaInbox
    this.logger = logger
    this.#timeoutMs = timeoutMs
    this.#overran = overran
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController()
      if (this.#abortedWith !== undefined) this.#controller.abort(this.#abortedWith)
    }
    return this.#controller.signal
  }

  /** The time limit passed: the handler is told to stop, and the attempt goes on until it does. */
  expire(): void {
    if (this.#stoppedWith !== undefined) return
    const timeout = new WebhookHandlerTimeoutError(this.#timeoutMs)
    this.#timeout = timeout
    this.#abort(timeout)
    this.#overran(this, timeout, 0)
    // Said again at every further limit while it runs: a stuck event must not go unnoticed.
    let over = 0
    this.#reminder = setInterval(() => this.#overran(this, timeout, (over += this.#timeoutMs)), this.#timeoutMs)
    // The handler's own work keeps the process alive if it must; the reminder should not.
    ;(this.#reminder as { unref?: () => void }).unref?.()
  }

  /** Stops waiting for the handler: close() ran out of time, or the inbox lost its claim. */
  stop(reason: unknown): void {
    this.#abort(reason)
    if (this.#stoppedWith !== undefined) return
    this.#stoppedWith = reason
    this.#endOverrun()
    this.#stopWaiting?.(reason)
  }

  /** Settles with the handler (or when stopped). A late success is a success; a late failure is a timeout. */
  wait(result: PromiseLike<unknown>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#stoppedWith !== undefined) return reject(this.#stoppedWith)
      this.#stopWaiting = reject
      result.then(
        () => {
          this.settled = true
          if (this.#timeout && this.#stoppedWith === undefined) {
            this.logger.warn(
              { eventId: this.event.id, type: this.event.type, handler: this.handler, attempt: this.attempt },
              'webhook handler finished after its time limit: counted as succeeded, not run again',
            )
          }
          this.#endOverrun()
          resolve()
        },
        (error: unknown) => {
          this.settled = true
          this.#endOverrun()
          reject(this.#timeout ?? error)
        },
      )
    })
  }

  #abort(reason: unknown): void {
    if (this.#abortedWith !== undefined) return
    this.#abortedWith = reason
    this.#controller?.abort(reason)
  }

  #endOverrun(): void {
    if (this.#reminder !== undefined) clearInterval(this.#reminder)
    this.#reminder = undefined
  }
}
