import type { CryptoBackend } from './crypto/backend.js'
import { MemoryDeadLetters } from './dead-letters.js'
import { MemoryDedupeStore } from './dedupe/memory.js'
import type { ClaimResult, DedupeStore } from './dedupe/store.js'
import type { DeadLetter, InboxProcessor, WebhookInbox } from './inbox.js'
import { claimInbox, type InboxConsumer } from './inbox-consumers.js'
import { callHook, Dispatcher, MAX_TIMER_MS, type EventHandler, type FailedEvent, type ReceiverHooks, type RetryOptions } from './dispatch.js'
import type { WebhookHandlerError } from './errors.js'
import { assignEventId, rememberPayloadText, type AnyEventFor, type EventOfType, type WebhookEvent } from './event.js'
import { POCKETSFLOW_EVENT_ALIASES, type PocketsflowEventAlias, type PocketsflowEventType } from './events/pocketsflow.js'
import type { PocketbookEventType } from './events/pocketbook.js'
import { buildHandlerTable, type OneOrMany } from './handlers.js'
import { resolveLogger, wantsDebug } from './logger.js'
import { isThenable, type MaybePromise } from './realm.js'
import type { SignedHeaders } from './schemes/scheme.js'
import type { Body, HeadersInput, Logger, Provider, RejectionReason, WebhookResponse } from './types.js'
import { createVerifier, type ReceivedResult } from './verify.js'

export const DEFAULT_PATH = '/webhooks/pocketsflow'
export const DEFAULT_BODY_LIMIT = 1024 * 1024
/** A store call slower than this answers 503: well inside the sender's 5 s timeout. */
export const DEFAULT_STORE_TIMEOUT_MS = 2000
/** Longer idempotency keys are stored as their SHA-256. */
const MAX_KEY_LENGTH = 200
/**
 * Keys with control characters or unpaired surrogates are stored as their SHA-256 too: PostgreSQL
 * text cannot hold U+0000, and BullMQ job ids (encodeURIComponent) refuse unpaired surrogates, so
 * such an id from a sender's body would make every store attempt fail (503) for an authentic event.
 */
const UNSAFE_KEY = /[\u0000-\u001f\u007f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
/** After close()'s timeout: how long aborted handlers get to report and release their events. */
const CLOSE_GRACE_MS = 1000
/** What after() returns when the handlers finished synchronously: one shared settled promise. */
const DONE: Promise<void> = Promise.resolve()

type HandlerKey<P extends Provider> = P extends 'pocketsflow'
  ? PocketsflowEventType | PocketsflowEventAlias
  : P extends 'pocketbook'
    ? PocketbookEventType
    : string

type CanonicalOf<K extends string> = K extends PocketsflowEventAlias ? (typeof POCKETSFLOW_EVENT_ALIASES)[K] : K

/** Typed handlers per event type: `{ 'order.completed': async (event, ctx) => … }`, or several: `[grant, email]`. */
export type HandlerMap<P extends Provider = 'pocketsflow'> = {
  [K in HandlerKey<P>]?: OneOrMany<EventHandler<EventOfType<P, CanonicalOf<K>>>>
}

export interface WebhookReceiverOptions<P extends Provider = 'pocketsflow'> {
  /** Signing secret, or several during a rotation. Required; empty or whitespace is a configuration error. */
  secret: string | readonly string[] | undefined
  /** Which sender's signature scheme (default `pocketsflow`). */
  provider?: P
  /** URL path the adapters answer on (default `/webhooks/pocketsflow`). */
  path?: string
  /** Seconds of clock difference allowed, both directions (default 300), or `false` to skip the check. */
  tolerance?: number | false
  /** Largest body accepted, in bytes (default 1 MiB); larger → 413. */
  bodyLimit?: number
  /**
   * Handlers per event type: a function, or an array of them that run in order. Each handler is
   * retried and recorded on its own: a retry or a replay runs only those that have not succeeded.
   * `customer.subscription.pause` and `customer.subscription.paused` are one event: register
   * either key and it runs for both spellings (registering both is an error).
   */
  on?: HandlerMap<P>
  /** Runs for every accepted event, unknown and untyped ones included, after the typed handlers. A function or an array. */
  onEvent?: OneOrMany<EventHandler<AnyEventFor<P>>>
  /** Called once per handler that failed its last attempt (after the event was kept as a dead letter). */
  onError?: (error: WebhookHandlerError<AnyEventFor<P>>, event: AnyEventFor<P>) => unknown
  /** Retries of failed handler attempts (default 3 attempts, 1 s doubling, jittered), or `false`. */
  retry?: RetryOptions | false
  /**
   * Time limit of one handler attempt in ms (default 30 000): its `ctx.signal` aborts and the
   * attempt is reported as timed out. A handler that ignores its signal holds its event until it
   * settles (no retry runs beside it; an error is logged at every further limit).
   */
  handlerTimeoutMs?: number
  /**
   * In-memory dispatch: at most this many events' handlers run at once (default 10); accepted events
   * beyond it wait in order (see `stats()`). Acknowledgements do not wait. With an inbox, its own
   * `concurrency` applies instead.
   */
  concurrency?: number
  /**
   * In-memory dispatch: how many events that failed for good are kept for `deadLetters()` and
   * `replay()` (default 1000, the most recent; in this process only).
   */
  maxDeadLetters?: number
  /** Where seen event ids are kept (default: in memory, 7 days, 50 000 ids), or `false` for no dedupe. */
  dedupe?: DedupeStore | false
  /**
   * A durable inbox (`bullmqInbox(…)`, `postgresInbox(…)`): each event is stored in it before the
   * 200 (503 if that fails), and its workers run the handlers with retries that survive a crash.
   * It dedupes too, so `dedupe` is not used with it. Without handlers (`on`, `onEvent`, or only
   * `undefined` ones) this receiver only records, for a separate worker process (`startInboxWorker`).
   */
  inbox?: WebhookInbox
  /** How long a dedupe store or inbox call may take before the delivery is answered 503 (default 2000 ms). */
  storeTimeoutMs?: number
  /** Chooses the idempotency key (default: the sender's event id, or one derived from the raw body). */
  idempotencyKey?: (event: AnyEventFor<P>) => string
  /** pino-compatible logger (default: warnings and errors to the console), or `false` for silence. */
  logger?: Logger | false
  hooks?: ReceiverHooks<AnyEventFor<P>>
  /** Clock in epoch milliseconds, for tests. */
  now?: () => number
}

/** What an adapter does with one request: send `response`, then call `after` (if present) once it is sent. */
export interface ReceiverResult {
  readonly response: WebhookResponse
  readonly reason?: RejectionReason
  /** The verified event, for adapters that expose it (request decorations, ctx.state, guards). */
  readonly event?: WebhookEvent
  /**
   * The handlers' work. Call it after the response is on the wire, or when the connection closed
   * first: the event is authentic and acknowledged or not, it has to be processed. Never rejects.
   */
  readonly after?: () => Promise<void>
}

export interface WebhookRequest {
  readonly method: string | undefined
  readonly headers: HeadersInput
  readonly body: Body
  /**
   * For an adapter that had to rebuild the body from what a parser kept (e.g. decoded text): why
   * those bytes may not be the ones that were signed. Logged as the hint when they do not match
   * the signature, instead of the generic "wrong secret, or the body was changed".
   */
  readonly mismatchHint?: string | undefined
}

export interface WebhookReceiver {
  readonly provider: Provider
  readonly path: string
  readonly bodyLimit: number
  /** Whether a request URL (path and optional query string) is this receiver's. */
  matchesPath(url: string | undefined): boolean
  /** Everything decidable before reading the body: method, shutdown, headers. `undefined` = read the body. */
  precheck(request: Omit<WebhookRequest, 'body'>): ReceiverResult | undefined
  /** The whole pipeline for one request. Never throws, never rejects. */
  handle(request: WebhookRequest): Promise<ReceiverResult>
  /**
   * `handle()` without the promise when none is needed: with node:crypto, the in-memory (or no)
   * dedupe store and no inbox, the result is returned directly. Adapters use it to save the
   * microtask hops on every delivery; `await` works on either. Never throws, never rejects.
   */
  handleNow(request: WebhookRequest): ReceiverResult | Promise<ReceiverResult>
  /** A response for a problem the adapter found (oversized or unreadable body, misconfiguration). */
  reject(reason: RejectionReason, detail?: string): ReceiverResult
  /**
   * Stops accepting (503) and waits for requests in progress, running handlers and events waiting
   * for a slot. After `timeoutMs`, running attempts are aborted, and unfinished events go to
   * onError and are released.
   */
  close(options?: { timeoutMs?: number }): Promise<void>
  /** Events whose handlers failed their last attempt, newest first (from the inbox, with one). */
  deadLetters(options?: { limit?: number }): Promise<DeadLetter[]>
  /**
   * Runs the failed handlers of a dead letter again (with an inbox: queues it again). `false` if no
   * dead letter has that id. Resolves once the run has started, not when it ends.
   */
  replay(id: string): Promise<boolean>
  /** In-memory dispatch now: events whose handlers are running, waiting for a slot, kept as dead letters. */
  stats(): ReceiverStats
}

export interface ReceiverStats {
  readonly running: number
  readonly waiting: number
  readonly deadLetters: number
}

const STATUS: Readonly<Record<RejectionReason, number>> = {
  missing_signature: 401,
  invalid_signature_header: 401,
  duplicate_header: 401,
  signature_mismatch: 401,
  missing_timestamp: 401,
  invalid_timestamp: 401,
  timestamp_too_old: 401,
  timestamp_in_future: 401,
  missing_webhook_id: 401,
  event_type_mismatch: 401,
  malformed_json: 400,
  invalid_payload: 400,
  missing_event_type: 400,
  body_unreadable: 400,
  method_not_allowed: 405,
  body_too_large: 413,
  closed: 503,
  store_unavailable: 503,
  configuration_error: 500,
}

/** The HTTP status for a rejection reason: the one table every adapter answers from. */
export function statusForReason(reason: RejectionReason): number {
  return STATUS[reason] ?? 400
}

const JSON_HEADERS = Object.freeze({ 'content-type': 'application/json; charset=utf-8' })

function response(status: number, body: string, extra?: Record<string, string>): WebhookResponse {
  return Object.freeze({ status, headers: extra ? Object.freeze({ ...JSON_HEADERS, ...extra }) : JSON_HEADERS, body })
}

// Bodies are deliberately generic: the precise reason goes to the logs, never to the sender.
const ACCEPTED = response(200, '{"received":true}')
const DUPLICATE = response(200, '{"received":true,"duplicate":true}')
const RESPONSES: Readonly<Record<number, WebhookResponse>> = {
  400: response(400, '{"error":"invalid payload"}'),
  401: response(401, '{"error":"invalid signature"}'),
  405: response(405, '{"error":"method not allowed"}', { allow: 'POST' }),
  413: response(413, '{"error":"payload too large"}'),
  500: response(500, '{"error":"webhook receiver misconfigured"}'),
  503: response(503, '{"error":"temporarily unavailable"}', { 'retry-after': '5' }),
}

const HINTS: Partial<Record<RejectionReason, string>> = {
  timestamp_too_old:
    'the delivery is older than the tolerance: a replay, or a clock difference (widen `tolerance` if clocks are skewed)',
  timestamp_in_future: 'the delivery is dated in the future: usually a clock difference (check NTP, or widen `tolerance`)',
  signature_mismatch:
    'no configured secret matches: wrong secret, or the body was changed (parsed and re-serialized) before verification',
  event_type_mismatch: 'the event header names another type than the signed body: the header was altered',
}

function normalisePath(path: string): string {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new TypeError(`pocketsflow-webhooks: "path" must start with "/", got ${JSON.stringify(path)}`)
  }
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
}

/** The framework-free pipeline, parameterised by the crypto backend (node:crypto or Web Crypto). */
export function createReceiverWith<Key, P extends Provider = 'pocketsflow'>(
  backend: CryptoBackend<Key>,
  options: WebhookReceiverOptions<P>,
): WebhookReceiver {
  if (options === null || typeof options !== 'object') throw new TypeError('pocketsflow-webhooks: options are required')
  const logger = resolveLogger(options.logger)
  const debug = wantsDebug(options.logger)
  const verifier = createVerifier(backend, options)
  const provider = verifier.provider
  const path = normalisePath(options.path ?? DEFAULT_PATH)
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1) throw new TypeError('pocketsflow-webhooks: "bodyLimit" must be a positive integer')
  const hooks = (options.hooks ?? {}) as ReceiverHooks
  const inbox = options.inbox
  if (inbox !== undefined && !isInbox(inbox)) {
    throw new TypeError('pocketsflow-webhooks: "inbox" must be an inbox such as bullmqInbox(…) or postgresInbox(…)')
  }
  if (inbox && options.dedupe !== undefined) {
    throw new TypeError('pocketsflow-webhooks: "inbox" dedupes events itself; remove the "dedupe" option')
  }
  const store: DedupeStore | undefined =
    options.dedupe === false || inbox
      ? undefined
      : (options.dedupe ?? new MemoryDedupeStore({ ...(options.now ? { now: options.now } : {}) }))
  const idempotencyKey = options.idempotencyKey as ((event: WebhookEvent) => unknown) | undefined
  const deadLetters = new MemoryDeadLetters(options.maxDeadLetters, logger)
  const dispatcher = createDispatcher(options, logger, (failure) => deadLetters.keep(failure))

  // Only where a handler exists: a web process that shares its options with the worker, with the
  // handlers left undefined, must not take events off the inbox and mark them done unrun.
  const releaseInbox = inbox && dispatcher.handlerCount > 0 ? startInbox(inbox, dispatcher, logger, { provider, path }) : undefined

  const storeTimeoutMs = options.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS
  if (!(storeTimeoutMs > 0 && storeTimeoutMs <= MAX_TIMER_MS)) {
    throw new TypeError(`pocketsflow-webhooks: "storeTimeoutMs" must be > 0 and <= ${MAX_TIMER_MS}`)
  }

  // Where precheck() leaves its parse of the headers for handle(): a property of the headers
  // object under a symbol private to this receiver, read once. A WeakMap did the same at several
  // times the cost per request (each entry is an ephemeron the garbage collector traces apart).
  const PRECHECKED = Symbol('pocketsflow-webhooks prechecked headers')
  let closing = false
  // Requests inside handle(), plus accepted events whose handlers have not finished: close()
  // waits for all of them, so nothing can be acknowledged after it resolved.
  let pending = 0
  let idle: (() => void)[] = []

  function settle(): void {
    pending--
    if (pending === 0 && idle.length > 0) {
      const waiting = idle
      idle = []
      for (const resolve of waiting) resolve()
    }
  }

  function reject(reason: RejectionReason, detail?: string, skewSeconds?: number): ReceiverResult {
    const status = statusForReason(reason)
    const info = skewSeconds === undefined ? { reason, status } : { reason, status, skewSeconds }
    const hint = detail ?? HINTS[reason]
    const log = { provider, ...info, ...(hint ? { hint } : {}) }
    if (status === 500) logger.error(log, `webhook receiver misconfigured: ${detail ?? reason}`)
    else if (status === 405) logger.debug(log, 'webhook delivery rejected: method not allowed')
    else logger.warn(log, `webhook delivery rejected: ${reason}`)
    callHook(logger, 'rejected', hooks.rejected && (() => hooks.rejected?.(info)))
    return { response: RESPONSES[status] ?? (RESPONSES[400] as WebhookResponse), reason }
  }

  function precheck(request: Omit<WebhookRequest, 'body'>): ReceiverResult | undefined {
    if (request.method !== 'POST') return reject('method_not_allowed')
    if (closing) return reject('closed')
    return undefined
  }

  /** Store calls with a deadline: a store that hangs must not hold the sender past its 5 s. */
  function withDeadline<T>(work: T | PromiseLike<T>, what: string): Promise<T> {
    if (!isThenable(work)) return Promise.resolve(work)
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline = new Promise<never>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`${what} took longer than ${storeTimeoutMs} ms`)), storeTimeoutMs)
    })
    return Promise.race([Promise.resolve(work), deadline]).finally(() => clearTimeout(timer))
  }

  async function release(key: string): Promise<void> {
    try {
      const releasing = store?.release(key)
      if (isThenable(releasing)) await withDeadline(releasing, 'dedupe store release')
    } catch (error) {
      logger.error({ err: error, eventId: key }, 'dedupe store failed to release the event')
    }
  }

  // The pipeline below returns plain values while every step is synchronous (node:crypto, the
  // in-memory dedupe store, handlers that return no promise) and promises only from the first step
  // that is not: most deliveries are answered and handled without a trip through the microtask queue.

  function accept(result: ReceivedResult, mismatchHint?: string): ReceiverResult | Promise<ReceiverResult> {
    if (!result.ok) return reject(result.reason, result.reason === 'signature_mismatch' ? mismatchHint : undefined, result.skewSeconds)
    const event = result.event
    if (idempotencyKey) {
      try {
        const key = idempotencyKey(event)
        if (typeof key !== 'string' || key === '') throw new TypeError(`returned ${String(key)}, not a non-empty string`)
        assignEventId(event, key)
      } catch (error) {
        // The payload is the sender's: a key function that can't cope with it must not cost the event.
        logger.warn({ err: error, type: event.type }, 'idempotencyKey failed; using the default key')
      }
    }
    if (inbox) rememberPayloadText(event, result.payloadText)
    // Keys come from the sender (an id in the body, a header) or from user code: hash long ones,
    // so the dedupe store's memory is bounded by its entry count, and ones no store can hold.
    if (event.id.length > MAX_KEY_LENGTH || UNSAFE_KEY.test(event.id)) {
      const digest = backend.sha256Hex(event.id)
      if (isThenable(digest)) {
        return Promise.resolve(digest).then((hex) => {
          assignEventId(event, `sha256:${hex}`)
          return claim(event)
        })
      }
      assignEventId(event, `sha256:${digest}`)
    }
    return claim(event)
  }

  function claim(event: WebhookEvent): ReceiverResult | Promise<ReceiverResult> {
    if (inbox) return record(inbox, event)
    // The key as claimed: what hooks and handlers later do to the event can't change what is
    // completed or released.
    const key = event.id
    if (!store) return accepted(event, key)
    let claiming: ClaimResult | Promise<ClaimResult>
    try {
      claiming = store.claim(key, event.type)
    } catch (error) {
      return storeUnavailable(error, event)
    }
    if (!isThenable(claiming)) return claimed(event, key, claiming)
    return withDeadline(claiming, 'dedupe store claim').then(
      (won) => claimed(event, key, won),
      (error: unknown) => {
        // Its answer may still come, and a win is this receiver's to process: close() waits for it.
        pending++
        claiming.then(
          (late) => (late === true ? claimedLate(event, key) : settle()),
          () => settle(),
        )
        return storeUnavailable(error, event)
      },
    )
  }

  /**
   * Acknowledged, not processed again. Under another type than it was first accepted under, it is
   * someone replaying a body with another (unsigned) type header: worth a warning.
   */
  function duplicate(event: WebhookEvent, claim: Exclude<ClaimResult, true>): ReceiverResult {
    const firstType = claim === false ? undefined : claim.firstType
    if (firstType !== undefined && firstType !== event.type) {
      logger.warn(
        { eventId: event.id, type: event.type, firstType },
        'duplicate webhook delivery under another event type than the first: acknowledged, not processed (the type header is not signed: a replayed body?)',
      )
    } else {
      logger.info({ eventId: event.id, type: event.type }, 'duplicate webhook delivery acknowledged, not processed again')
    }
    callHook(logger, 'duplicate', hooks.duplicate && (() => hooks.duplicate?.(event, { firstType })))
    return { response: DUPLICATE, event }
  }

  function storeUnavailable(error: unknown, event: WebhookEvent): ReceiverResult {
    logger.error({ err: error, eventId: event.id, type: event.type }, 'dedupe store unavailable: answering 503')
    return reject('store_unavailable')
  }

  /**
   * The claim landed after the delivery was answered 503: the event is this receiver's now, and a
   * re-send in between was told "duplicate". Undoing the claim would lose it; it is processed, as an
   * inbox processes a record that lands late, a closing receiver included: it holds a place in
   * `pending` since its 503, so close() waits for it as for any event in progress.
   */
  function claimedLate(event: WebhookEvent, key: string): void {
    logger.warn({ eventId: key, type: event.type }, 'the dedupe store claimed the event after its delivery was answered 503: processing it now')
    const letter = takeLetter(key, event)
    void (letter ? dispatch(letter.event, key, letter.completedHandlers) : dispatch(event, key, undefined))
  }

  /**
   * A re-send of a dead letter: its letter, taken by whoever holds the claim. It runs as the letter's
   * event: the handlers not to run again are named after the type it was first accepted under, and a
   * re-send under another (unsigned) type header must not change that.
   */
  function takeLetter(key: string, resent: WebhookEvent): DeadLetter | undefined {
    const letter = deadLetters.size > 0 ? deadLetters.take(key) : undefined
    if (letter && letter.event.type !== resent.type) {
      logger.warn({ eventId: key, type: resent.type, firstType: letter.event.type }, 'a re-send of a dead letter under another event type: run as the type it was first accepted under')
    }
    return letter
  }

  function claimed(event: WebhookEvent, key: string, won: ClaimResult): ReceiverResult | Promise<ReceiverResult> {
    if (won !== true) return duplicate(event, won)
    // close() began while we were claiming: not acknowledged, so not ours to keep.
    if (closing) return release(key).then(() => reject('closed'))
    return accepted(event, key)
  }

  function accepted(event: WebhookEvent, key: string): ReceiverResult {
    if (debug) logger.debug({ eventId: key, type: event.type }, 'webhook accepted')
    callHook(logger, 'accepted', hooks.accepted && (() => hooks.accepted?.(event)))
    // Taken now, while this delivery holds the claim: a replay racing it finds no letter.
    const letter = takeLetter(key, event)
    let started = false
    const after = (): Promise<void> => {
      if (started) return DONE
      started = true
      return letter ? dispatch(letter.event, key, letter.completedHandlers) : dispatch(event, key, undefined)
    }
    return { response: ACCEPTED, event, after }
  }

  /**
   * Runs the event's handlers but the `completed` ones, then marks it done or releases it. Leaves
   * `pending` when finished; never rejects.
   */
  function dispatch(event: WebhookEvent, key: string, completed: readonly string[] | undefined): Promise<void> {
    try {
      let handled: MaybePromise<boolean>
      try {
        handled = dispatcher.dispatch(event, completed)
      } catch (error) {
          handled = dispatchFailed(error, key)
        }
      if (!isThenable(handled)) return settleAfterRun(key, handled)
      return handled.then(
        (ok) => settleAfterRun(key, ok),
        (error: unknown) => settleAfterRun(key, dispatchFailed(error, key)),
      )
    } catch (error) {
      // Unreachable by design (loggers are wrapped, stores are guarded); the event must still
      // leave `pending`, and after() never rejects.
      logger.error({ err: error, eventId: key }, 'unexpected error after the event was handled')
      settle()
      return DONE
    }
  }

  function dispatchFailed(error: unknown, key: string): false {
    logger.error({ err: error, eventId: key }, 'unexpected error while dispatching the event')
    return false
  }

  /** Marks the event done (or releases it, when a handler failed for good), then leaves `pending`. */
  function settleAfterRun(key: string, handled: boolean): Promise<void> {
    if (!store) {
      settle()
      return DONE
    }
    if (!handled) return release(key).finally(settle)
    let completing: void | Promise<void> = undefined
    try {
      completing = store.complete(key)
    } catch (error) {
      completeFailed(error, key)
    }
    if (!isThenable(completing)) {
      settle()
      return DONE
    }
    return withDeadline(completing, 'dedupe store complete')
      .catch((error: unknown) => completeFailed(error, key))
      .finally(settle)
  }

  function completeFailed(error: unknown, key: string): void {
    logger.error({ err: error, eventId: key }, 'dedupe store failed to mark the event done')
  }

  /** With a durable inbox: stored before the 200, processed by the inbox's workers. */
  async function record(inbox: WebhookInbox, event: WebhookEvent): Promise<ReceiverResult> {
    let recorded: ClaimResult
    try {
      recorded = await withDeadline(inbox.record(event), 'recording the event in the inbox')
    } catch (error) {
      // A record that lands after this 503 is fine: the event is processed once, and a re-send is
      // answered as a duplicate. Undoing it could lose an event the sender will not re-send.
      logger.error({ err: error, eventId: event.id, type: event.type }, 'inbox unavailable: answering 503')
      return reject('store_unavailable')
    }
    if (recorded !== true) return duplicate(event, recorded)
    if (debug) logger.debug({ eventId: event.id, type: event.type }, 'webhook recorded in the inbox')
    callHook(logger, 'accepted', hooks.accepted && (() => hooks.accepted?.(event)))
    return { response: ACCEPTED, event }
  }

  function handleNow(request: WebhookRequest): ReceiverResult | Promise<ReceiverResult> {
    pending++
    let result: ReceiverResult | Promise<ReceiverResult>
    try {
      result = receive(request)
    } catch (error) {
      result = unexpected(error)
    }
    if (!isThenable(result)) return handedOver(result)
    return result.then(handedOver, (error: unknown) => handedOver(unexpected(error)))
  }

  /** An accepted event stays pending until its after() has run; anything else leaves now. */
  function handedOver(result: ReceiverResult): ReceiverResult {
    if (result.after === undefined) settle()
    return result
  }

  function unexpected(error: unknown): ReceiverResult {
    // Unreachable by design; if it happens the delivery was not accepted, so 503 lets it be re-sent.
    logger.error({ err: error }, 'unexpected error in the webhook receiver')
    return reject('store_unavailable')
  }

  function receive(request: WebhookRequest): ReceiverResult | Promise<ReceiverResult> {
    const early = precheck(request)
    if (early) return early
    const body = request.body
    const size = typeof body === 'string' ? byteLength(body) : body?.byteLength
    if (size !== undefined && size > bodyLimit) return reject('body_too_large')
    const headers = request.headers as { [PRECHECKED]?: SignedHeaders | undefined } | null
    const signed = typeof headers === 'object' && headers !== null ? headers[PRECHECKED] : undefined
    // One use: a headers object reused for another request (tests do) is parsed afresh. Deleted,
    // not set to undefined, so logging req.headers shows nothing of ours (deleting the property
    // added last is cheap in V8: the object returns to its previous shape).
    if (signed !== undefined) delete headers![PRECHECKED]
    const verified = signed ? verifier.verifyBodyNow(signed, body) : verifier.verifyNow(request.headers, body)
    if (request.mismatchHint !== undefined) {
      const hint = request.mismatchHint
      return isThenable(verified) ? verified.then((result) => accept(result, hint)) : accept(verified, hint)
    }
    return isThenable(verified) ? verified.then(accept) : accept(verified)
  }

  /**
   * In memory: claims the event's key, then takes the letter and runs the handlers that failed. The
   * claim decides: a letter is taken only by whoever holds it, so a re-send and a replay never both
   * run the event, and a letter is never dropped unrun.
   */
  async function replay(id: string): Promise<boolean> {
    if (typeof id !== 'string' || id === '') throw new TypeError('replay: "id" must be a non-empty string')
    if (closing) throw new Error('pocketsflow-webhooks: the receiver is closed; nothing can be replayed')
    const letter = deadLetters.get(id)
    if (letter === undefined) return false
    // From here close() waits for the replay, its claim included.
    pending++
    let handedOver = false
    try {
      if (!(await claimForReplay(id, letter.type))) {
        throw new Error(
          `pocketsflow-webhooks: ${id} is being processed (its failure is still being settled, or a re-send of it is running): its dead letter is kept; replay it once that is done`,
        )
      }
      if (closing) {
        await release(id)
        throw new Error('pocketsflow-webhooks: the receiver is closed; nothing can be replayed')
      }
      const taken = deadLetters.take(id)
      if (taken === undefined) {
        // Settled since the lookup (a re-send ran it); the claim was never needed.
        await release(id)
        return true
      }
      handedOver = true
      void dispatch(taken.event, id, taken.completedHandlers)
      return true
    } finally {
      if (!handedOver) settle()
    }
  }

  /** The replay's claim, with the deadline of any claim: one that lands late is undone. */
  async function claimForReplay(id: string, type: string): Promise<boolean> {
    if (!store) return true
    const claiming = store.claim(id, type)
    if (!isThenable(claiming)) return claiming === true
    try {
      return (await withDeadline(claiming, 'dedupe store claim')) === true
    } catch (error) {
      // Nobody is told this event was taken: a claim landing now would block it for nothing.
      claiming.then(
        (late) => {
          if (late === true) void release(id)
        },
        () => {},
      )
      throw error
    }
  }

  function waitIdle(limitMs: number): Promise<boolean> {
    if (pending === 0) return Promise.resolve(true)
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        resolve(true)
      }
      const timer = limitMs === Infinity ? undefined : setTimeout(() => {
        idle = idle.filter((f) => f !== done)
        resolve(false)
      }, Math.min(limitMs, MAX_TIMER_MS))
      idle.push(done)
    })
  }

  return {
    provider,
    path,
    bodyLimit,
    matchesPath(url) {
      if (typeof url !== 'string') return false
      const q = url.indexOf('?')
      const p = q < 0 ? url : url.slice(0, q)
      return p === path || (p.length === path.length + 1 && p.endsWith('/') && p.startsWith(path))
    },
    precheck(request) {
      const early = precheck(request)
      if (early) return early
      const check = verifier.checkHeaders(request.headers)
      if (!check.ok) return reject(check.reason, undefined, check.skewSeconds)
      // handle() will get the same headers object once the body is in: don't parse them twice.
      const headers = request.headers as { [PRECHECKED]?: SignedHeaders | undefined } | null
      if (typeof headers === 'object' && headers !== null) {
        try {
          headers[PRECHECKED] = check.signed
        } catch {
          // A frozen headers object: handle() parses them again.
        }
      }
      return undefined
    },
    handleNow,
    handle: (request) => Promise.resolve(handleNow(request)),
    reject: (reason, detail) => reject(reason, detail),
    deadLetters: async (listOptions) => (inbox ? inbox.deadLetters(listOptions) : deadLetters.list(listOptions?.limit)),
    replay: (id) => (inbox ? inbox.replay(id) : replay(id)),
    stats: () => ({ ...dispatcher.stats, deadLetters: deadLetters.size }),
    async close(closeOptions) {
      closing = true
      const timeoutMs = closeOptions?.timeoutMs ?? Infinity
      if (!(await waitIdle(timeoutMs))) {
        // Out of time: abort attempts and stop retrying. Each unfinished event then reaches
        // onError and is released; allow a moment for that, not another full wait.
        dispatcher.stop()
        await waitIdle(CLOSE_GRACE_MS)
      }
      if (inbox) {
        try {
          await inbox.close({ timeoutMs })
        } catch (error) {
          logger.error({ err: error }, 'inbox failed to close')
        }
        releaseInbox?.()
      }
      if (store?.close) {
        try {
          await (timeoutMs === Infinity ? store.close() : withDeadline(store.close(), 'dedupe store close'))
        } catch (error) {
          logger.error({ err: error }, 'dedupe store failed to close')
        }
      }
    },
  }
}

/** The options a dispatcher is built from: the receiver's and the inbox worker's alike. */
export type DispatchOptions<P extends Provider = Provider> = Pick<
  WebhookReceiverOptions<P>,
  'provider' | 'on' | 'onEvent' | 'onError' | 'retry' | 'handlerTimeoutMs' | 'concurrency' | 'logger' | 'hooks'
>

export function createDispatcher<P extends Provider>(
  options: DispatchOptions<P>,
  logger: Logger,
  keepDeadLetter?: (failure: FailedEvent) => void,
): Dispatcher {
  return new Dispatcher({
    handlers: buildHandlerTable(options.provider ?? 'pocketsflow', options.on as Record<string, unknown> | undefined, options.onEvent, logger),
    onError: options.onError as ((error: WebhookHandlerError, event: WebhookEvent) => unknown) | undefined,
    retry: options.retry,
    timeoutMs: options.handlerTimeoutMs,
    concurrency: options.concurrency,
    logger,
    debug: wantsDebug(options.logger),
    hooks: (options.hooks ?? {}) as ReceiverHooks,
    ...(keepDeadLetter ? { keepDeadLetter } : {}),
  })
}

function isInbox(value: unknown): value is WebhookInbox {
  const inbox = value as Partial<WebhookInbox> | null
  return typeof inbox === 'object' && inbox !== null && typeof inbox.record === 'function' && typeof inbox.start === 'function' && typeof inbox.close === 'function'
}

/** The processor an inbox's workers run: the dispatcher, one attempt at a time. */
export function inboxProcessor(dispatcher: Dispatcher, logger: Logger): InboxProcessor {
  return {
    maxAttempts: dispatcher.maxAttempts,
    attemptTimeoutMs: dispatcher.timeoutMs,
    logger,
    run: (attempt) => dispatcher.runAttempt(attempt),
    deadLettered: (event, attempts, error, handlers) => dispatcher.deadLettered(event, attempts, error, handlers),
  }
}

/**
 * Starts the inbox's workers with the dispatcher's handlers, once `consumer` may run them (see
 * inbox-consumers.ts; refused with a throw otherwise). Returns the release, for its close.
 */
export function startInbox(inbox: WebhookInbox, dispatcher: Dispatcher, logger: Logger, consumer: InboxConsumer): () => void {
  const release = claimInbox(inbox, consumer)
  try {
    const started = inbox.start(inboxProcessor(dispatcher, logger))
    // A failed start (database down at boot) is not fatal: records answer 503 until it is back,
    // and the engine's workers reconnect on their own.
    if (isThenable(started)) Promise.resolve(started).catch((error: unknown) => logger.error({ err: error }, 'the inbox failed to start its workers'))
  } catch (error) {
    logger.error({ err: error }, 'the inbox failed to start its workers')
  }
  return release
}

function byteLength(text: string): number {
  // Exact UTF-8 length without allocating: only reached for string bodies, which adapters rarely pass.
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) bytes += 1
    else if (c < 0x800) bytes += 2
    else if (c >= 0xd800 && c <= 0xdbff) {
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}
