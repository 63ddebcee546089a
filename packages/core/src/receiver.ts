// The receiver: the framework-free pipeline one delivery goes through. An adapter hands it the
// request and sends back what it answers; everything a sender can observe is decided here.
//
//   1. handle       count the request in: close() waits for it
//   2. verify       method, shutdown, size, signature, timestamp, JSON   → 405, 503, 413, 401, 400
//   3. claim        the event's key in the dedupe store, or the event in the inbox
//                   (seen before → 200 duplicate; store unavailable → 503; a test-mode event
//                   under testMode: 'ignore' → 200, nothing claimed, nothing run)
//   4. acknowledge  200, with after(): the handlers' work, for the adapter to start once it is sent
//   5. after        the handlers run (in memory: retried, then marked done or kept as a dead letter)
//
// Beside it: replay() of a dead letter, and close(). Option types and validation are in
// options.ts, the status/body/hint tables in responses.ts, the handlers' runner in dispatch.ts.
import type { CryptoBackend } from './crypto/backend.js'
import { MemoryDeadLetters } from './dead-letters.js'
import type { ClaimResult } from './dedupe/store.js'
import { callHook, clock, MAX_TIMER_MS, type Dispatcher, type HookSource, type ReceiverHooks } from './dispatch.js'
import { assignEventId, rememberCarried, rememberPayloadText, type WebhookEvent } from './event.js'
import { carriedBy } from './hooks.js'
import type { DeadLetter, InboxDepth, InboxProcessor, WebhookInbox } from './inbox.js'
import { claimInbox, type InboxConsumer } from './inbox-consumers.js'
import { createDispatcher, resolveReceiverOptions, type SchemaMap, type WebhookReceiverOptions } from './options.js'
import { isThenable, type MaybePromise } from './realm.js'
import { ACCEPTED, DUPLICATE_ACKNOWLEDGED, HINTS, RESPONSES, statusForReason } from './responses.js'
import type { SignedHeaders } from './schemes/scheme.js'
import type { Body, HeadersInput, Logger, Provider, RejectionReason, WebhookResponse } from './types.js'
import { createVerifier, type ReceivedResult } from './verify.js'

export {
  DEFAULT_BODY_LIMIT,
  DEFAULT_PATH,
  DEFAULT_STORE_TIMEOUT_MS,
  createDispatcher,
  normaliseWebhookPath,
  type DispatchOptions,
  type HandlerMap,
  type SchemaMap,
  type WebhookReceiverOptions,
} from './options.js'

export interface WebhookRequest {
  readonly method: string | undefined
  readonly headers: HeadersInput
  readonly body: Body
  /** What `precheck()` returned for these headers: they are then not parsed a second time. */
  readonly checked?: CheckedHeaders | undefined
  /**
   * For an adapter that had to rebuild the body from what a parser kept (e.g. decoded text): why
   * those bytes may not be the ones that were signed. Logged as the hint when they do not match
   * the signature, instead of the generic "wrong secret, or the body was changed".
   */
  readonly mismatchHint?: string | undefined
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

/**
 * The headers of a request that `precheck()` found acceptable (method, shutdown, signature and
 * timestamp headers), to hand to `handle()` with the body as `checked`. Opaque.
 */
export interface CheckedHeaders {
  readonly rejected?: undefined
}

/** `precheck()`'s answer: the request is `rejected` from its headers alone, or its headers are checked. */
export type Precheck = { readonly rejected: ReceiverResult } | CheckedHeaders

/** Made by precheck() only, for the receiver (its verifier) that made it. */
class Checked implements CheckedHeaders {
  declare readonly rejected?: undefined
  constructor(
    readonly by: object,
    readonly signed: SignedHeaders,
    /** When precheck() first saw the request (read only for the `answered` hook). */
    readonly startedAt: number | undefined,
  ) {}
}

export interface WebhookReceiver {
  readonly provider: Provider
  readonly path: string
  readonly bodyLimit: number
  /** Whether a request URL (path and optional query string) is this receiver's. */
  matchesPath(url: string | undefined): boolean
  /**
   * Everything decidable before reading the body: method, shutdown, headers. `{ rejected }` is the
   * answer; otherwise read the body and pass what this returned to `handle()` as `checked`.
   */
  precheck(request: Omit<WebhookRequest, 'body' | 'checked'>): Precheck
  /** The whole pipeline for one request. Never throws, never rejects. */
  handle(request: WebhookRequest): Promise<ReceiverResult>
  /**
   * `handle()` without the promise when none is needed: with node:crypto, the in-memory (or no)
   * dedupe store and no inbox, the result is returned directly. Adapters use it to save the
   * microtask hops on every delivery; `await` works on either. Never throws, never rejects.
   */
  handleNow(request: WebhookRequest): MaybePromise<ReceiverResult>
  /**
   * Verification alone (method, shutdown, size, signature, timestamp, JSON), with the same answers,
   * logs and hooks as `handle()`, for a guard in front of an app's own route: 200 with the event
   * when it is authentic, or the rejection. Nothing is claimed or recorded, and no handler runs.
   */
  verify(request: WebhookRequest): Promise<ReceiverResult>
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

/** The framework-free pipeline, parameterised by the crypto backend (node:crypto or Web Crypto). */
export function createReceiverWith<Key, P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>>(
  backend: CryptoBackend<Key>,
  options: WebhookReceiverOptions<P, S>,
): WebhookReceiver {
  if (options === null || typeof options !== 'object') throw new TypeError('pocketsflow-webhooks: options are required')
  const verifier = createVerifier(backend, options)
  const provider = verifier.provider
  const { logger, debug, path, bodyLimit, storeTimeoutMs, hooks, inbox, store, idempotencyKey, ignoreTestEvents } = resolveReceiverOptions(options)
  const deadLetters = new MemoryDeadLetters(options.maxDeadLetters, logger)
  const dispatcher = createDispatcher(options, logger, (failure) => deadLetters.keep(failure))
  // Only where a handler exists: a web process that shares its options with the worker, with the
  // handlers left undefined, must not take events off the inbox and mark them done unrun.
  const releaseInbox = inbox && dispatcher.handlerCount > 0 ? startInbox(inbox, dispatcher, logger, { provider, path }) : undefined
  if (hooks.observe) {
    const source: HookSource = {
      provider,
      stats: () => ({ ...dispatcher.stats, deadLetters: deadLetters.size }),
      ...(inbox?.depth ? { inboxDepth: () => (inbox.depth as () => Promise<InboxDepth>).call(inbox), inbox } : {}),
    }
    callHook(logger, 'observe', () => hooks.observe?.(source))
  }

  let closing = false
  // Requests inside handle(), plus accepted events whose handlers have not finished: close()
  // waits for all of them, so nothing can be acknowledged after it resolved.
  let pending = 0
  let idle: (() => void)[] = []

  // The pipeline returns plain values while every step is synchronous (node:crypto, the in-memory
  // dedupe store, handlers that return no promise) and promises only from the first step that is
  // not (MaybePromise): most deliveries are answered and handled without a trip through the
  // microtask queue.

  // --- 1. handle: count the request in, so close() waits for it -------------------------------

  function handleNow(request: WebhookRequest): MaybePromise<ReceiverResult> {
    pending++
    // From precheck(), when the adapter went through it: the receiver first saw the request there.
    const startedAt = hooks.answered ? (request.checked instanceof Checked ? request.checked.startedAt : undefined) ?? clock() : undefined
    let result: MaybePromise<ReceiverResult>
    try {
      result = receive(request)
    } catch (error) {
      result = unexpected(error)
    }
    if (!isThenable(result)) return handedOver(result, startedAt)
    return result.then(
      (settled) => handedOver(settled, startedAt),
      (error: unknown) => handedOver(unexpected(error), startedAt),
    )
  }

  /** An accepted event stays pending until its after() has run; anything else leaves now. */
  function handedOver(result: ReceiverResult, startedAt: number | undefined): ReceiverResult {
    if (result.after === undefined) leavePending()
    if (startedAt !== undefined) answered(result, startedAt)
    return result
  }

  /** The `answered` hook: what became of the request, and how long the receiver took. */
  function answered(result: ReceiverResult, startedAt: number): void {
    const { response, reason } = result
    const outcome =
      reason !== undefined ? 'rejected' : response === DUPLICATE_ACKNOWLEDGED ? 'duplicate' : result.event === undefined ? 'ignored' : 'accepted'
    const durationMs = clock() - startedAt
    callHook(logger, 'answered', () => hooks.answered?.({ status: response.status, outcome, reason, durationMs, provider, event: result.event }))
  }

  function unexpected(error: unknown): ReceiverResult {
    // Unreachable by design; if it happens the delivery was not accepted, so 503 lets it be re-sent.
    logger.error({ err: error }, 'unexpected error in the webhook receiver')
    return reject('store_unavailable')
  }

  // --- 2. verify: method, shutdown, size, signature, timestamp, JSON ---------------------------

  function receive(request: WebhookRequest, next: (event: WebhookEvent) => MaybePromise<ReceiverResult> = claim): MaybePromise<ReceiverResult> {
    const early = refuseEarly(request)
    if (early) return early
    const body = request.body
    const size = typeof body === 'string' ? byteLength(body) : body?.byteLength
    if (size !== undefined && size > bodyLimit) return reject('body_too_large')
    // The headers precheck() already parsed and checked, when the adapter hands them over.
    const checked = request.checked
    const signed = checked instanceof Checked && checked.by === verifier ? checked.signed : undefined
    const verified = signed ? verifier.verifyBodyNow(signed, body) : verifier.verifyNow(request.headers, body)
    const hint = request.mismatchHint
    return isThenable(verified) ? verified.then((result) => identify(result, hint, next)) : identify(verified, hint, next)
  }

  /** Verification alone (step 2), for a guard in front of an app's own route: nothing claimed, no handlers. */
  function verifyOnly(request: WebhookRequest): Promise<ReceiverResult> {
    try {
      return Promise.resolve(receive(request, answeredUnclaimed)).catch(unexpected)
    } catch (error) {
      return Promise.resolve(unexpected(error))
    }
  }

  function answeredUnclaimed(event: WebhookEvent): ReceiverResult {
    return { response: ACCEPTED, event }
  }

  /** What neither the headers nor the body can change: a method other than POST, and shutdown. */
  function refuseEarly(request: Omit<WebhookRequest, 'body'>): ReceiverResult | undefined {
    if (request.method !== 'POST') return reject('method_not_allowed')
    if (closing) return reject('closed')
    return undefined
  }

  function precheck(request: Omit<WebhookRequest, 'body' | 'checked'>): Precheck {
    const startedAt = hooks.answered ? clock() : undefined
    const early = refuseEarly(request)
    if (early) return { rejected: answeredEarly(early, startedAt) }
    const check = verifier.checkHeaders(request.headers)
    if (!check.ok) return { rejected: answeredEarly(reject(check.reason, undefined, check.skewSeconds), startedAt) }
    return new Checked(verifier, check.signed, startedAt)
  }

  function answeredEarly(result: ReceiverResult, startedAt: number | undefined): ReceiverResult {
    if (startedAt !== undefined) answered(result, startedAt)
    return result
  }

  function reject(reason: RejectionReason, detail?: string, skewSeconds?: number): ReceiverResult {
    const status = statusForReason(reason)
    const info = skewSeconds === undefined ? { reason, status } : { reason, status, skewSeconds }
    const hint = detail ?? HINTS[reason]
    const log = { provider, ...info, ...(hint ? { hint } : {}) }
    if (status === 500) logger.error(log, `webhook receiver misconfigured: ${detail ?? reason}`)
    else if (status === 405) logger.debug(log, 'webhook delivery rejected: method not allowed')
    else logger.warn(log, `webhook delivery rejected: ${reason}`)
    callHook(logger, 'rejected', hooks.rejected && (() => hooks.rejected?.({ ...info, provider })))
    return { response: RESPONSES[status] ?? (RESPONSES[400] as WebhookResponse), reason }
  }

  // --- 3. claim: the event's key in the dedupe store, or the event in the inbox ---------------

  /** The `carry` hook's strings go with the event (stored with it by an inbox). Never throws. */
  function carry(event: WebhookEvent, hook: NonNullable<ReceiverHooks['carry']>): void {
    const strings = carriedBy(hook, event, logger)
    if (strings) rememberCarried(event, strings)
  }

  /**
   * `testMode: 'ignore'`: a test-mode event is acknowledged (the sender must not see an error for
   * it) and goes no further: not claimed, not stored, no handler; `verify()` (a guard) gets the 200
   * without an event, so the route behind it does not run either.
   */
  function ignoredTestEvent(event: WebhookEvent): ReceiverResult {
    logger.info({ eventId: event.id, type: event.type }, 'test-mode webhook event acknowledged and ignored (testMode: ignore)')
    callHook(logger, 'ignored', hooks.ignored && (() => hooks.ignored?.(event, { reason: 'test_mode' })))
    return { response: ACCEPTED }
  }

  /**
   * The verified event gets its key (the `idempotencyKey` option's, hashed when no store can hold
   * it), then goes on to `next`: claimed (the pipeline), or answered as is (`verify()`).
   */
  function identify(
    result: ReceivedResult,
    mismatchHint: string | undefined,
    next: (event: WebhookEvent) => MaybePromise<ReceiverResult>,
  ): MaybePromise<ReceiverResult> {
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
    // Before anything is claimed or stored, for the pipeline and for a guard's verify() alike.
    if (ignoreTestEvents && event.testMode) return ignoredTestEvent(event)
    if (inbox) rememberPayloadText(event, result.payloadText)
    // Keys come from the sender (an id in the body, a header) or from user code: hash long ones,
    // so the dedupe store's memory is bounded by its entry count, and ones no store can hold.
    if (event.id.length > MAX_KEY_LENGTH || UNSAFE_KEY.test(event.id)) {
      const digest = backend.sha256Hex(event.id)
      if (isThenable(digest)) {
        return Promise.resolve(digest).then((hex) => {
          assignEventId(event, `sha256:${hex}`)
          return next(event)
        })
      }
      assignEventId(event, `sha256:${digest}`)
    }
    return next(event)
  }

  function claim(event: WebhookEvent): MaybePromise<ReceiverResult> {
    if (hooks.carry) carry(event, hooks.carry)
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
          (late) => (late === true ? claimedLate(event, key) : leavePending()),
          () => leavePending(),
        )
        return storeUnavailable(error, event)
      },
    )
  }

  function claimed(event: WebhookEvent, key: string, won: ClaimResult): MaybePromise<ReceiverResult> {
    if (won !== true) return duplicate(event, won)
    // close() began while we were claiming: not acknowledged, so not ours to keep.
    if (closing) return release(key).then(() => reject('closed'))
    return accepted(event, key)
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
    return { response: DUPLICATE_ACKNOWLEDGED, event }
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

  // --- 4. acknowledge: 200, and after(), the handlers' work ----------------------------------

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

  // --- 5. after: run the handlers, then mark the event done or release it ---------------------

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
      leavePending()
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
      leavePending()
      return DONE
    }
    if (!handled) return release(key).finally(leavePending)
    let completing: void | Promise<void> = undefined
    try {
      completing = store.complete(key)
    } catch (error) {
      completeFailed(error, key)
    }
    if (!isThenable(completing)) {
      leavePending()
      return DONE
    }
    return withDeadline(completing, 'dedupe store complete')
      .catch((error: unknown) => completeFailed(error, key))
      .finally(leavePending)
  }

  function completeFailed(error: unknown, key: string): void {
    logger.error({ err: error, eventId: key }, 'dedupe store failed to mark the event done')
  }

  // --- the dedupe store, with a deadline on every call ----------------------------------------

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

  // --- beside the pipeline: replay of a dead letter, and close() -----------------------------

  /**
   * In memory: claims the event's key, then takes the letter and runs the handlers that failed. The
   * claim decides: a letter is taken only by whoever holds it, so a re-send and a replay never both
   * run the event, and a letter is never dropped unrun.
   */
  async function replay(id: string): Promise<boolean> {
    if (typeof id !== 'string' || id === '') throw new TypeError('pocketsflow-webhooks: replay: "id" must be a non-empty string')
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
      if (!handedOver) leavePending()
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

  function leavePending(): void {
    pending--
    if (pending === 0 && idle.length > 0) {
      const waiting = idle
      idle = []
      for (const resolve of waiting) resolve()
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
    precheck,
    handleNow,
    handle: (request) => Promise.resolve(handleNow(request)),
    verify: verifyOnly,
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
