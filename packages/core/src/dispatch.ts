import { WebhookHandlerError, WebhookHandlerTimeoutError, WebhookReceiverClosedError } from './errors.js'
import type { WebhookEvent } from './event.js'
import { Deadlines } from './deadlines.js'
import { isThenable } from './realm.js'
import type { InboxAttempt, InboxOutcome } from './inbox.js'
import type { Logger } from './types.js'

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
  /** A verified event was acknowledged but had been seen before: handlers do not run again. */
  duplicate?(event: E): void
  /** A delivery was refused; `reason` is a stable code. */
  rejected?(info: { reason: string; status: number; skewSeconds?: number }): void
  /** Every handler of an event succeeded. */
  handled?(event: E, info: { attempts: number; durationMs: number }): void
  /** One attempt of one handler failed; `willRetry` says whether another follows. */
  failed?(error: unknown, event: E, info: { handler: string; attempt: number; willRetry: boolean }): void
}

export interface DispatcherOptions {
  handlers: ReadonlyMap<string, EventHandler>
  onEvent: EventHandler | undefined
  onError: ((error: WebhookHandlerError, event: WebhookEvent) => unknown) | undefined
  retry: RetryOptions | false | undefined
  timeoutMs: number | undefined
  logger: Logger
  /** Whether debug records are wanted: they are built per event, so skip them when not. */
  debug: boolean
  hooks: ReceiverHooks
}

export const DEFAULT_HANDLER_TIMEOUT_MS = 30_000
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

/** Delay before retry number `retry` (1-based). */
export function backoffDelay(retry: number, options: Required<RetryOptions>, random: () => number = Math.random): number {
  const base = Math.min(options.maxDelayMs, options.minDelayMs * options.factor ** (retry - 1))
  return options.jitter ? base / 2 + (base / 2) * random() : base
}

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

/**
 * Runs an event's handlers after the acknowledgement: the typed handler for its type, then the
 * catch-all. Each one is retried on its own, so a retry never re-runs a handler that already
 * succeeded. The run resolves to whether everything succeeded, and never rejects.
 */
export class Dispatcher {
  readonly #options: DispatcherOptions
  readonly #policy: Required<RetryOptions>
  /** Per attempt, or Infinity for none. */
  readonly #timeoutMs: number
  #stopped = false
  // Running attempts and retry waits, so stop() can cut them short (one listener each, not one
  // per attempt on a shared signal).
  readonly #running = new Set<Attempt>()
  readonly #waiting = new Set<() => void>()
  readonly #deadlines: Deadlines | undefined

  constructor(options: DispatcherOptions) {
    this.#options = options
    this.#policy = resolveRetry(options.retry)
    const timeoutMs = options.timeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS
    if (!(timeoutMs > 0) || (timeoutMs > MAX_TIMER_MS && timeoutMs !== Infinity)) {
      throw new TypeError(`pocketsflow-webhooks: "handlerTimeoutMs" must be > 0 and <= ${MAX_TIMER_MS}, or Infinity for no limit`)
    }
    this.#timeoutMs = timeoutMs
    this.#deadlines = timeoutMs === Infinity ? undefined : new Deadlines(timeoutMs)
  }

  /** Stops retrying and aborts running attempts; used when close() runs out of time. */
  stop(): void {
    this.#stopped = true
    const reason = new WebhookReceiverClosedError()
    for (const run of this.#running) run.abort(reason)
    for (const wake of this.#waiting) wake()
  }

  /**
   * Runs an event's handlers. While they finish synchronously (most do) the outcome is returned
   * as it is, with no promise; from the first one that does not, a promise. Never throws, never rejects.
   */
  run(event: WebhookEvent): boolean | Promise<boolean> {
    // The duration is only reported to the `handled` hook and debug logs: no clock read otherwise.
    const started = this.#options.debug || this.#options.hooks.handled ? Date.now() : 0
    const typed = this.#options.handlers.get(event.type)
    // Attempts made per handler, negative when it failed for good, 0 when there is none: no
    // result object per handler on the path every event takes.
    const made = typed ? this.#runHandler(event.type, typed, event) : 0
    if (isThenable(made)) return made.then((n) => this.#runCatchAll(event, started, n))
    return this.#runCatchAll(event, started, made)
  }

  #runCatchAll(event: WebhookEvent, started: number, typedMade: number): boolean | Promise<boolean> {
    const onEvent = this.#options.onEvent
    if (!onEvent) return this.#ran(event, started, typedMade, 0)
    const made = this.#runHandler('onEvent', onEvent, event)
    if (isThenable(made)) return made.then((n) => this.#ran(event, started, typedMade, n))
    return this.#ran(event, started, typedMade, made)
  }

  #ran(event: WebhookEvent, started: number, typedMade: number, catchAllMade: number): boolean {
    const succeeded = typedMade >= 0 && catchAllMade >= 0
    const { hooks, logger, debug } = this.#options
    if (succeeded && (debug || hooks.handled)) {
      const attempts = typedMade + catchAllMade
      const durationMs = started === 0 ? 0 : Date.now() - started
      if (debug) logger.debug({ eventId: event.id, type: event.type, attempts, durationMs }, 'webhook handled')
      if (hooks.handled) callHook(logger, 'handled', () => hooks.handled?.(event, { attempts, durationMs }))
    }
    return succeeded
  }

  /** The first attempt, inline; retries, if it fails, in #retrying. Answers the attempts made, negative for a failure. */
  #runHandler(name: string, handler: EventHandler, event: WebhookEvent): number | Promise<number> {
    if (this.#stopped) {
      this.#gaveUp(name, event, 0, new WebhookReceiverClosedError())
      return -1
    }
    let waiting: Promise<void> | undefined
    try {
      waiting = this.#attempt(handler, event, 1, undefined)
    } catch (error) {
      return this.#retrying(name, handler, event, 1, error)
    }
    if (!waiting) return 1
    return waiting.then(
      () => 1,
      (error: unknown) => this.#retrying(name, handler, event, 1, error),
    )
  }

  /** Attempt number `attempts` failed with `error`: report it, then retry after the backoff or give up. */
  async #retrying(name: string, handler: EventHandler, event: WebhookEvent, attempts: number, error: unknown): Promise<number> {
    const max = this.#policy.maxAttempts
    let lastError = error
    for (;;) {
      const willRetry = attempts < max && !this.#stopped
      this.#attemptFailed(name, event, attempts, lastError, willRetry)
      if (willRetry) await this.#sleep(backoffDelay(attempts, this.#policy))
      if (attempts >= max) break
      if (this.#stopped) {
        lastError = new WebhookReceiverClosedError()
        break
      }
      attempts++
      try {
        const waiting = this.#attempt(handler, event, attempts, undefined)
        if (waiting) await waiting
        return attempts
      } catch (failure) {
        lastError = failure
      }
    }
    this.#gaveUp(name, event, attempts, lastError)
    return -attempts
  }

  /**
   * One attempt of a durable inbox's event: each handler not yet completed runs once; the inbox
   * does the retrying (its retries survive a crash, these in-memory ones would not).
   */
  async runAttempt(job: InboxAttempt): Promise<InboxOutcome> {
    const started = Date.now()
    const { event, attempt, completed, markCompleted, signal } = job
    const { hooks, logger } = this.#options
    const final = attempt >= this.#policy.maxAttempts
    const todo = this.#handlersOf(event).filter(([name]) => !completed?.includes(name))
    let firstError: unknown
    let failed = false
    let interrupted = false
    for (let i = 0; i < todo.length; i++) {
      const [name, handler] = todo[i] as [string, EventHandler]
      try {
        if (signal?.aborted) throw signal.reason ?? new WebhookReceiverClosedError()
        const waiting = this.#attempt(handler, event, attempt, signal)
        if (waiting) await waiting
        if (markCompleted && i < todo.length - 1) {
          try {
            await markCompleted(name)
          } catch (error) {
            logger.warn({ err: error, eventId: event.id, handler: name }, 'could not record that a handler succeeded; a retry may run it again')
          }
        }
      } catch (error) {
        if (!failed && !interrupted) firstError = error
        if (signal?.aborted) {
          // The inbox stopped the attempt (closing, or its claim on the event passed to another
          // worker): not the handler's failure, so no retry bookkeeping and no onError here.
          interrupted = true
          logger.warn({ eventId: event.id, type: event.type, handler: name, attempt, err: error }, 'webhook handler attempt interrupted')
          break
        }
        failed = true
        this.#attemptFailed(name, event, attempt, error, !final)
        if (final) this.#gaveUp(name, event, attempt, error)
      }
    }
    if (interrupted && !(failed && final)) return { ok: false, error: firstError, final: false, retryInMs: 0, interrupted: true }
    if (failed) return { ok: false, error: firstError, final, retryInMs: final ? 0 : backoffDelay(attempt, this.#policy), interrupted: false }
    const durationMs = Date.now() - started
    if (this.#options.debug) logger.debug({ eventId: event.id, type: event.type, attempts: attempt, durationMs }, 'webhook handled')
    callHook(logger, 'handled', hooks.handled && (() => hooks.handled?.(event, { attempts: attempt, durationMs })))
    return { ok: true }
  }

  /** An inbox gave up on an event outside an attempt (see InboxProcessor.deadLettered). */
  deadLettered(event: WebhookEvent, attempts: number, error: unknown): void {
    this.#gaveUp('inbox', event, attempts, error)
  }

  get maxAttempts(): number {
    return this.#policy.maxAttempts
  }

  get timeoutMs(): number {
    return this.#timeoutMs
  }

  #handlersOf(event: WebhookEvent): [string, EventHandler][] {
    const list: [string, EventHandler][] = []
    const typed = this.#options.handlers.get(event.type)
    if (typed) list.push([event.type, typed])
    if (this.#options.onEvent) list.push(['onEvent', this.#options.onEvent])
    return list
  }

  #attemptFailed(name: string, event: WebhookEvent, attempt: number, error: unknown, willRetry: boolean): void {
    const { logger, hooks } = this.#options
    logger.warn({ eventId: event.id, type: event.type, handler: name, attempt, willRetry, err: error }, 'webhook handler attempt failed')
    callHook(logger, 'failed', hooks.failed && (() => hooks.failed?.(error, event, { handler: name, attempt, willRetry })))
  }

  #gaveUp(name: string, event: WebhookEvent, attempts: number, lastError: unknown): void {
    const { logger, onError } = this.#options
    const failure = new WebhookHandlerError(event, name, attempts, lastError)
    logger.error({ eventId: event.id, type: event.type, handler: name, attempts, err: lastError }, 'webhook handling failed for good')
    callHook(logger, 'onError', onError && (() => onError(failure, event)))
  }

  /**
   * Runs one attempt. Resolves (or returns undefined, for a handler that finished synchronously)
   * when the handler succeeded; rejects with its error, its timeout or the abort reason.
   */
  #attempt(handler: EventHandler, event: WebhookEvent, attempt: number, outer: AbortSignal | undefined): Promise<void> | undefined {
    const run = new Attempt(attempt, this.#options.logger, this.#timeoutMs)
    // The time limit counts from here, but is only set once the handler turns out to be still
    // running: one that returns without a promise needs no deadline and nothing stop() can reach.
    const startedAt = this.#deadlines ? Date.now() : 0
    const onOuterAbort = outer && (() => run.abort(outer.reason ?? new WebhookReceiverClosedError()))
    if (onOuterAbort) outer.addEventListener('abort', onOuterAbort, { once: true })
    let result: unknown
    try {
      result = handler(event, run)
    } catch (error) {
      if (onOuterAbort) outer.removeEventListener('abort', onOuterAbort)
      throw error
    }
    if (!isThenable(result)) {
      if (onOuterAbort) outer.removeEventListener('abort', onOuterAbort)
      return undefined
    }
    this.#running.add(run)
    const deadline = this.#deadlines?.start(run, startedAt)
    const finish = () => {
      if (deadline) this.#deadlines?.finish(deadline)
      if (onOuterAbort) outer.removeEventListener('abort', onOuterAbort)
      this.#running.delete(run)
    }
    const waiting = run.wait(result)
    waiting.then(finish, finish)
    return waiting
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#stopped) return resolve()
      const wake = () => {
        clearTimeout(timer)
        this.#waiting.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, ms)
      this.#waiting.add(wake)
    })
  }
}

/**
 * One handler attempt: the handler's `ctx`, the entry of its deadline and its abort switch in one
 * object, so an attempt allocates this and the wait, not a closure for each role.
 */
class Attempt implements HandlerContext {
  readonly attempt: number
  readonly logger: Logger
  readonly #timeoutMs: number
  // Made only if the handler reads ctx.signal: creating one costs more than the rest of an
  // attempt's bookkeeping, and most handlers never look.
  #controller: AbortController | undefined
  #abortedWith: unknown
  #stopWaiting: ((reason: unknown) => void) | undefined

  constructor(attempt: number, logger: Logger, timeoutMs: number) {
    this.attempt = attempt
    this.logger = logger
    this.#timeoutMs = timeoutMs
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController()
      if (this.#abortedWith !== undefined) this.#controller.abort(this.#abortedWith)
    }
    return this.#controller.signal
  }

  /** The deadline passed. */
  expire(): void {
    this.abort(new WebhookHandlerTimeoutError(this.#timeoutMs))
  }

  abort(reason: unknown): void {
    if (this.#abortedWith !== undefined) return
    this.#abortedWith = reason
    this.#controller?.abort(reason)
    this.#stopWaiting?.(reason)
  }

  /**
   * Settles with the handler, or earlier on timeout or abort: a handler that ignores its signal
   * keeps running, but the dispatcher stops waiting for it.
   */
  wait(result: PromiseLike<unknown>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.#abortedWith !== undefined) return reject(this.#abortedWith)
      this.#stopWaiting = reject
      result.then(resolve as () => void, reject)
    })
  }
}
