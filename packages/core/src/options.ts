// The receiver's options: their types, defaults and validation, resolved once at construction
// (configuration mistakes throw here, never on a delivery), and the dispatcher built from them,
// the same for the receiver and for an inbox worker.
import { MemoryDedupeStore } from './dedupe/memory.js'
import type { DedupeStore } from './dedupe/store.js'
import { Dispatcher, MAX_TIMER_MS, type EventHandler, type FailedEvent, type ReceiverHooks, type RetryOptions } from './dispatch.js'
import type { WebhookHandlerError } from './errors.js'
import type { AnyEventFor, EventOfType, WebhookEvent } from './event.js'
import type { POCKETSFLOW_EVENT_ALIASES, PocketsflowEventAlias, PocketsflowEventType } from './events/pocketsflow.js'
import type { PocketbookEventType } from './events/pocketbook.js'
import { buildHandlerTable, type OneOrMany } from './handlers.js'
import { resolveHooks, type HooksOption } from './hooks.js'
import type { WebhookInbox } from './inbox.js'
import { resolveLogger, wantsDebug } from './logger.js'
import type { StandardSchemaV1 } from './schema.js'
import type { Logger, Provider } from './types.js'

export const DEFAULT_PATH = '/webhooks/pocketsflow'
export const DEFAULT_BODY_LIMIT = 1024 * 1024
/** A store call slower than this answers 503: well inside the sender's 5 s timeout. */
export const DEFAULT_STORE_TIMEOUT_MS = 2000
type HandlerKey<P extends Provider> = P extends 'pocketsflow'
  ? PocketsflowEventType | PocketsflowEventAlias
  : P extends 'pocketbook'
    ? PocketbookEventType
    : string

type CanonicalOf<K extends string> = K extends PocketsflowEventAlias ? (typeof POCKETSFLOW_EVENT_ALIASES)[K] : K

/** Run-time checks of payloads per event type: `{ 'order.completed': OrderSchema }`, any Standard Schema v1 validator. */
export type SchemaMap<P extends Provider = 'pocketsflow'> = { [K in HandlerKey<P>]?: StandardSchemaV1 }

/** The schema `schemas` gives for key K (either spelling of an aliased type), if any. */
type SchemaFor<S, K extends string> = K extends keyof S ? S[K] : CanonicalOf<K> extends keyof S ? S[CanonicalOf<K>] : undefined

/** The event a handler for K receives: with a schema, its `data` is the schema's output. */
type HandledEvent<P extends Provider, K extends string, S> =
  SchemaFor<S, K> extends StandardSchemaV1
    ? Omit<EventOfType<P, CanonicalOf<K>>, 'data'> & { readonly data: StandardSchemaV1.InferOutput<SchemaFor<S, K>> }
    : EventOfType<P, CanonicalOf<K>>

/**
 * Typed handlers per event type: `{ 'order.completed': async (event, ctx) => … }`, or several:
 * `[grant, email]`. With `schemas`, a type's handlers get the schema's output as `event.data`.
 */
export type HandlerMap<P extends Provider = 'pocketsflow', S = SchemaMap<P>> = {
  [K in HandlerKey<P>]?: OneOrMany<EventHandler<HandledEvent<P, K, S>>>
}

export interface WebhookReceiverOptions<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>> {
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
  on?: HandlerMap<P, S>
  /**
   * Checks payloads at run time before their type's handlers in `on` run, with any Standard Schema
   * v1 validator (zod, valibot, ArkType, …); sync or async. A payload that fails is still
   * acknowledged (the sender would not send it again): its type's handlers do not run, `onError`
   * gets a `WebhookValidationError` (with each issue and its path) per handler, without retries,
   * and the event is kept as a dead letter that `replay()` runs once the schema or code is fixed.
   * Keys the schema does not name pass through unless the schema strips them; types without a
   * schema, and `onEvent`, are not checked.
   */
  schemas?: S
  /**
   * Events sent with test keys (`event.testMode`): `'handle'` them like any other (default), or
   * `'ignore'` them: acknowledged 200, logged at info, reported to the `ignored` hook, never stored
   * nor handled. For a production endpoint that must never grant access for a test purchase.
   */
  testMode?: 'handle' | 'ignore'
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
  /** Observability hooks (see `ReceiverHooks`), or a list of them: each list entry's hooks run, on their own. */
  hooks?: HooksOption<AnyEventFor<P>>
  /** Clock in epoch milliseconds, for tests. */
  now?: () => number
}

/** The options as the receiver uses them: validated, defaults applied. */
export interface ResolvedReceiverOptions {
  readonly logger: Logger
  /** Whether test-mode events are acknowledged and dropped (`testMode: 'ignore'`). */
  readonly ignoreTestEvents: boolean
  /** Whether the logger wants debug records: they are not even built otherwise. */
  readonly debug: boolean
  readonly path: string
  readonly bodyLimit: number
  readonly storeTimeoutMs: number
  readonly hooks: ReceiverHooks
  readonly inbox: WebhookInbox | undefined
  /** The dedupe store: none with an inbox (it dedupes itself) or with `dedupe: false`. */
  readonly store: DedupeStore | undefined
  readonly idempotencyKey: ((event: WebhookEvent) => unknown) | undefined
}

/** Validates the options the pipeline needs and applies their defaults. Throws on configuration mistakes. */
export function resolveReceiverOptions<P extends Provider, S extends SchemaMap<P>>(options: WebhookReceiverOptions<P, S>): ResolvedReceiverOptions {
  const path = normaliseWebhookPath(options.path)
  const testMode = options.testMode ?? 'handle'
  if (testMode !== 'handle' && testMode !== 'ignore') {
    throw new TypeError(`pocketsflow-webhooks: "testMode" must be 'handle' or 'ignore', got ${JSON.stringify(testMode)}`)
  }
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1) throw new TypeError('pocketsflow-webhooks: "bodyLimit" must be a positive integer')
  const storeTimeoutMs = options.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS
  if (!(storeTimeoutMs > 0 && storeTimeoutMs <= MAX_TIMER_MS)) {
    throw new TypeError(`pocketsflow-webhooks: "storeTimeoutMs" must be > 0 and <= ${MAX_TIMER_MS}`)
  }
  const inbox = options.inbox
  if (inbox !== undefined && !isInbox(inbox)) {
    throw new TypeError('pocketsflow-webhooks: "inbox" must be an inbox such as bullmqInbox(…) or postgresInbox(…)')
  }
  if (inbox && options.dedupe !== undefined) {
    throw new TypeError('pocketsflow-webhooks: "inbox" dedupes events itself; remove the "dedupe" option')
  }
  const store =
    options.dedupe === false || inbox ? undefined : (options.dedupe ?? new MemoryDedupeStore({ ...(options.now ? { now: options.now } : {}) }))
  const logger = resolveLogger(options.logger)
  return {
    logger,
    ignoreTestEvents: testMode === 'ignore',
    debug: wantsDebug(options.logger),
    path,
    bodyLimit,
    storeTimeoutMs,
    hooks: resolveHooks(options.hooks as HooksOption<never> | undefined, logger),
    inbox,
    store,
    idempotencyKey: options.idempotencyKey as ((event: WebhookEvent) => unknown) | undefined,
  }
}

/**
 * The path a receiver answers on, as its `path` option gives it (default `/webhooks/pocketsflow`),
 * without a trailing slash. Throws the receiver's own error for a path that does not start with `/`.
 */
export function normaliseWebhookPath(path: string | undefined = DEFAULT_PATH): string {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new TypeError(`pocketsflow-webhooks: "path" must start with "/", got ${JSON.stringify(path)}`)
  }
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
}

/** The options a dispatcher is built from: the receiver's and the inbox worker's alike. */
export type DispatchOptions<P extends Provider = Provider, S extends SchemaMap<P> = SchemaMap<P>> = Pick<
  WebhookReceiverOptions<P, S>,
  'provider' | 'on' | 'schemas' | 'onEvent' | 'onError' | 'retry' | 'handlerTimeoutMs' | 'concurrency' | 'logger' | 'hooks'
>

export function createDispatcher<P extends Provider, S extends SchemaMap<P>>(
  options: DispatchOptions<P, S>,
  logger: Logger,
  keepDeadLetter?: (failure: FailedEvent) => void,
): Dispatcher {
  return new Dispatcher({
    handlers: buildHandlerTable(
      options.provider ?? 'pocketsflow',
      options.on as Record<string, unknown> | undefined,
      options.onEvent,
      logger,
      options.schemas as Record<string, unknown> | undefined,
    ),
    onError: options.onError as ((error: WebhookHandlerError, event: WebhookEvent) => unknown) | undefined,
    retry: options.retry,
    timeoutMs: options.handlerTimeoutMs,
    concurrency: options.concurrency,
    logger,
    debug: wantsDebug(options.logger),
    hooks: resolveHooks(options.hooks as HooksOption<never> | undefined, logger),
    ...(keepDeadLetter ? { keepDeadLetter } : {}),
  })
}

function isInbox(value: unknown): value is WebhookInbox {
  const inbox = value as Partial<WebhookInbox> | null
  return typeof inbox === 'object' && inbox !== null && typeof inbox.record === 'function' && typeof inbox.start === 'function' && typeof inbox.close === 'function'
}
