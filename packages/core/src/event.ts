import type { PocketbookEnvelope, PocketbookEventDataMap, PocketbookEventType } from './events/pocketbook.js'
import {
  canonicalPocketsflowType,
  type POCKETSFLOW_EVENT_ALIASES,
  type PocketsflowCommonFields,
  type PocketsflowEventAlias,
  type PocketsflowEventDataMap,
  type PocketsflowEventType,
} from './events/pocketsflow.js'
import { MALFORMED, parseJson } from './json.js'
import type { Provider } from './types.js'

/** How the signature matched: for debugging and for retiring an old secret, never sent to the sender. */
export interface VerificationDetail {
  /** Index, in the configured `secret` list, of the secret that matched. */
  readonly secretIndex: number
  /** What was signed: `body`, `timestamp.body` (Pocketsflow's stronger scheme), … */
  readonly signedContent: string
}

/** A verified delivery. */
export interface WebhookEvent<TType extends string = string, TData = unknown, TProvider extends Provider = Provider> {
  /** The idempotency key: the sender's event id where it has one, otherwise derived from the raw body's bytes. */
  readonly id: string
  /** The event type, canonical spelling (`customer.subscription.pause` arrives as `…paused`). */
  readonly type: TType
  /** The type exactly as delivered. */
  readonly deliveredType: string
  /** The event's data: the whole body for Pocketsflow, the envelope's `data` for Pocketbook. */
  readonly data: TData
  /** The whole parsed body. */
  readonly payload: unknown
  readonly provider: TProvider
  /** When the sender says it sent the delivery. */
  readonly timestamp: Date | undefined
  /**
   * Sent with test keys: the payload says `testMode: true` (or `test_mode`) or `livemode: false` (or
   * `live_mode`). False when it says neither. See the receiver's `testMode` option.
   */
  readonly testMode: boolean
  readonly verification: VerificationDetail
}

export type PocketsflowEvent<T extends PocketsflowEventType = PocketsflowEventType> = {
  [K in T]: WebhookEvent<K, PocketsflowEventDataMap[K], 'pocketsflow'>
}[T]

/** A Pocketsflow event of a type this version does not know yet: still valid, still dispatched to `onEvent`. */
export type UnknownPocketsflowEvent = WebhookEvent<string, PocketsflowCommonFields & Record<string, unknown>, 'pocketsflow'>

export type PocketbookEvent<T extends PocketbookEventType = PocketbookEventType> = {
  [K in T]: WebhookEvent<K, PocketbookEventDataMap[K], 'pocketbook'> & {
    readonly payload: PocketbookEnvelope<K, PocketbookEventDataMap[K]>
  }
}[T]

export type UnknownPocketbookEvent = WebhookEvent<string, Record<string, unknown>, 'pocketbook'>

export type StandardWebhooksEvent = WebhookEvent<string, Record<string, unknown>, 'standard-webhooks'>

/**
 * An authentic delivery that names no event type (no type header or field), or whose body is
 * JSON but not an object: acknowledged all the same (the sender would not send it again) and handed
 * to `onEvent`, with the whole body as `data`.
 */
export type UntypedEvent<P extends Provider = Provider> = WebhookEvent<typeof UNTYPED, unknown, P>

/** The `type` of an event whose delivery named none. */
export const UNTYPED = 'unknown'

/** Every event a receiver for provider P can hand to `onEvent`. */
export type AnyEventFor<P extends Provider> = P extends 'pocketsflow'
  ? PocketsflowEvent | UnknownPocketsflowEvent | UntypedEvent<'pocketsflow'>
  : P extends 'pocketbook'
    ? PocketbookEvent | UnknownPocketbookEvent | UntypedEvent<'pocketbook'>
    : StandardWebhooksEvent | UntypedEvent<'standard-webhooks'>

/** The event a typed handler for type T receives. */
export type EventOfType<P extends Provider, T extends string> = P extends 'pocketsflow'
  ? T extends PocketsflowEventType
    ? PocketsflowEvent<T>
    : UnknownPocketsflowEvent
  : P extends 'pocketbook'
    ? T extends PocketbookEventType
      ? PocketbookEvent<T>
      : UnknownPocketbookEvent
    : StandardWebhooksEvent

/** The type names `isEventType` accepts for an event: known types and their aliases. */
export type EventTypeName<E> = E extends { readonly provider: 'pocketsflow' }
  ? PocketsflowEventType | PocketsflowEventAlias
  : E extends { readonly provider: 'pocketbook' }
    ? PocketbookEventType
    : string

type Canonical<T extends string> = T extends PocketsflowEventAlias ? (typeof POCKETSFLOW_EVENT_ALIASES)[T] : T

/**
 * Narrows an event to one type, for `onEvent` handlers:
 * `if (isEventType(event, 'order.completed')) event.data.customer.email`.
 * Either spelling of the paused event matches it.
 */
export function isEventType<E extends WebhookEvent, T extends EventTypeName<E>>(
  event: E,
  type: T,
): event is Extract<E, { readonly type: Canonical<T> }> {
  return event.type === (event.provider === 'pocketsflow' ? canonicalPocketsflowType(type) : type)
}

/** Lets the receiver put a user-chosen idempotency key on an event it has just built. */
export function assignEventId(event: WebhookEvent, id: string): void {
  ;(event as { id: string }).id = id
}

export interface EventFields {
  id: string
  type: string
  deliveredType: string
  data: unknown
  payload: unknown
  provider: Provider
  timestampMs: number | undefined
  verification: VerificationDetail
}

/** A plain object: spreading, structuredClone and JSON.stringify see every field. */
export function createEvent(fields: EventFields): WebhookEvent {
  return {
    id: fields.id,
    type: fields.type,
    deliveredType: fields.deliveredType,
    data: fields.data,
    payload: fields.payload,
    provider: fields.provider,
    timestamp: fields.timestampMs === undefined ? undefined : new Date(fields.timestampMs),
    testMode: isTestPayload(fields.payload),
    verification: fields.verification,
  }
}

/** Whether a payload says it was sent in test mode, in any of the spellings senders use. */
function isTestPayload(payload: unknown): boolean {
  if (payload === null || typeof payload !== 'object') return false
  const fields = payload as Record<string, unknown>
  // Either flag saying "test" is enough: an event that grants access must be positively live.
  return fields['testMode'] === true || fields['test_mode'] === true || fields['livemode'] === false || fields['live_mode'] === false
}

/**
 * The JSON text of verified events' payloads, for `serializeEvent`: a payload is stored as the text
 * it was parsed from, because re-serializing one nested a hundred thousand levels deep (still a
 * valid, signed body) overflows the stack. Set by the receiver only when an inbox will store the
 * event, so that other deliveries pay nothing for it.
 */
const payloadTexts = /* @__PURE__ */ new WeakMap<WebhookEvent, string>()

export function rememberPayloadText(event: WebhookEvent, text: string): void {
  // A byte order mark is legal before JSON text, not inside it as a value.
  payloadTexts.set(event, text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
}

/**
 * What hooks carry with an event through a durable inbox (a trace context: `carry` in
 * ReceiverHooks), set before it is stored and read back in the worker's copy.
 */
const carriedContexts = /* @__PURE__ */ new WeakMap<WebhookEvent, Readonly<Record<string, string>>>()

/** Keeps what the `carry` hook returned with the event, for serializeEvent. */
export function rememberCarried(event: WebhookEvent, carried: Readonly<Record<string, string>>): void {
  carriedContexts.set(event, carried)
}

/**
 * What the `carry` hook returned for this event in the process that received it: on the worker's
 * copy of an event read from a durable inbox (and on the received one). Undefined when none.
 */
export function carriedWith(event: WebhookEvent): Readonly<Record<string, string>> | undefined {
  return carriedContexts.get(event)
}

/**
 * An event as text, for durable inboxes: every field round-trips through `parseEvent`, including
 * the timestamp and the relation between `data` and `payload` (no second copy of the body).
 */
export function serializeEvent(event: WebhookEvent): string {
  const dataIsPayload = event.data === event.payload
  const dataIsEnvelopeData =
    !dataIsPayload && typeof event.payload === 'object' && event.payload !== null && (event.payload as { data?: unknown }).data === event.data
  const text = payloadTexts.get(event)
  const fields = JSON.stringify({
    v: 1,
    id: event.id,
    type: event.type,
    deliveredType: event.deliveredType,
    provider: event.provider,
    timestampMs: event.timestamp?.getTime(),
    verification: event.verification,
    payload: text === undefined ? event.payload : undefined,
    data: dataIsPayload ? undefined : dataIsEnvelopeData ? undefined : event.data,
    dataFrom: dataIsPayload ? 'payload' : dataIsEnvelopeData ? 'payload.data' : 'data',
    carried: carriedContexts.get(event),
  })
  return text === undefined ? fields : `${fields.slice(0, -1)},"payload":${text}}`
}

/** The event `serializeEvent` wrote. Throws a TypeError on text it did not write. */
export function parseEvent(text: string): WebhookEvent {
  // The stored text passed the same parser once; going through it again keeps the guarantee even
  // if someone edited the row or the job by hand.
  const raw = parseJson(text) as Record<string, unknown> | null | typeof MALFORMED
  if (raw === MALFORMED || raw === null || typeof raw !== 'object' || raw.v !== 1 || typeof raw.id !== 'string' || typeof raw.type !== 'string') {
    throw new TypeError('pocketsflow-webhooks: not a serialized webhook event')
  }
  const payload = raw.payload
  const data =
    raw.dataFrom === 'payload' ? payload : raw.dataFrom === 'payload.data' ? (payload as { data?: unknown } | null)?.data : raw.data
  const event = createEvent({
    id: raw.id,
    type: raw.type,
    deliveredType: typeof raw.deliveredType === 'string' ? raw.deliveredType : raw.type,
    data,
    payload,
    provider: raw.provider as Provider,
    timestampMs: typeof raw.timestampMs === 'number' ? raw.timestampMs : undefined,
    verification: raw.verification as VerificationDetail,
  })
  const carried = stringsOnly(raw.carried)
  if (carried) carriedContexts.set(event, carried)
  return event
}

/** At most this many carried entries, each key and value at most MAX_CARRIED_LENGTH characters: a trace context, not a payload. */
const MAX_CARRIED_ENTRIES = 16
const MAX_CARRIED_LENGTH = 512

/**
 * A plain object of short strings, from a hook or a stored event; anything else is dropped (never
 * trusted, never able to make an event unstorable: no BigInt, cycle or megabyte gets through).
 */
export function stringsOnly(value: unknown): Record<string, string> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined
  const entries: [string, string][] = []
  for (const [key, entry] of Object.entries(value as Record<string, unknown>)) {
    if (typeof entry !== 'string' || key.length > MAX_CARRIED_LENGTH || entry.length > MAX_CARRIED_LENGTH) continue
    entries.push([key, entry])
    if (entries.length === MAX_CARRIED_ENTRIES) break
  }
  return entries.length > 0 ? Object.fromEntries(entries) : undefined
}

const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g

/**
 * Text that any store can hold as it is: U+0000 (PostgreSQL text refuses it) and unpaired
 * surrogates (no UTF-8 for them; `encodeURIComponent` throws) become U+FFFD. For the columns and
 * keys an inbox derives from an event (its type): the event itself is stored whole, as JSON.
 */
export function storableText(value: string): string {
  return value.replace(UNSTORABLE, '\ufffd')
}
