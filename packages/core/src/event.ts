import type { PocketbookEnvelope, PocketbookEventDataMap, PocketbookEventType } from './events/pocketbook.js'
import {
  canonicalPocketsflowType,
  type POCKETSFLOW_EVENT_ALIASES,
  type PocketsflowCommonFields,
  type PocketsflowEventAlias,
  type PocketsflowEventDataMap,
  type PocketsflowEventType,
} from './events/pocketsflow.js'
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

/** Every event a receiver for provider P can hand to `onEvent`. */
export type AnyEventFor<P extends Provider> = P extends 'pocketsflow'
  ? PocketsflowEvent | UnknownPocketsflowEvent
  : P extends 'pocketbook'
    ? PocketbookEvent | UnknownPocketbookEvent
    : StandardWebhooksEvent

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
    verification: fields.verification,
  }
}
