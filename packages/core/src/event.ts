import type { PocketbookEnvelope, PocketbookEventDataMap, PocketbookEventType } from './events/pocketbook.js'
import type {
  PocketsflowCommonFields,
  PocketsflowEventDataMap,
  PocketsflowEventType,
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
  /** The idempotency key: the sender's event id where it has one, otherwise a SHA-256 of the raw body. */
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

/** The types a receiver for provider P knows the payload of. */
export type KnownTypeFor<P extends Provider> = P extends 'pocketsflow'
  ? PocketsflowEventType
  : P extends 'pocketbook'
    ? PocketbookEventType
    : never

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

/**
 * Narrows an event to one type, for `onEvent` handlers:
 * `if (isEventType(event, 'order.completed')) event.data.customer.email`.
 */
export function isEventType<E extends WebhookEvent, T extends E['type']>(event: E, type: T): event is Extract<E, { readonly type: T }> {
  return event.type === type
}

// Lets the receiver put a user-chosen idempotency key on an event without making `id` writable.
export let assignEventId: (event: VerifiedEvent, id: string) => void

/**
 * The id is a SHA-256 of the body by default. Computing it costs as much as the HMAC itself, and
 * `verifyWebhook` callers who never read `id` should not pay for it, so on Node it is computed on
 * first read and kept. `toJSON` includes it.
 */
export class VerifiedEvent implements WebhookEvent {
  readonly type: string
  readonly deliveredType: string
  readonly data: unknown
  readonly payload: unknown
  readonly provider: Provider
  readonly verification: VerificationDetail
  readonly #timestampMs: number | undefined
  #timestamp: Date | undefined
  #id: string | undefined
  #computeId: (() => string) | undefined

  constructor(fields: {
    id: string | (() => string)
    type: string
    deliveredType: string
    data: unknown
    payload: unknown
    provider: Provider
    timestampMs: number | undefined
    verification: VerificationDetail
  }) {
    if (typeof fields.id === 'string') this.#id = fields.id
    else this.#computeId = fields.id
    this.type = fields.type
    this.deliveredType = fields.deliveredType
    this.data = fields.data
    this.payload = fields.payload
    this.provider = fields.provider
    this.#timestampMs = fields.timestampMs
    this.verification = fields.verification
  }

  get timestamp(): Date | undefined {
    if (this.#timestamp === undefined && this.#timestampMs !== undefined) this.#timestamp = new Date(this.#timestampMs)
    return this.#timestamp
  }

  get id(): string {
    if (this.#id === undefined) {
      this.#id = (this.#computeId as () => string)()
      this.#computeId = undefined
    }
    return this.#id
  }

  toJSON() {
    return {
      id: this.id,
      type: this.type,
      deliveredType: this.deliveredType,
      provider: this.provider,
      timestamp: this.timestamp?.toISOString(),
      data: this.data,
      payload: this.payload,
      verification: this.verification,
    }
  }

  static {
    assignEventId = (event, id) => {
      event.#id = id
      event.#computeId = undefined
    }
  }
}
