// Label values: bounded, whatever a sender sends. An event type is a label only when the sender's
// catalogue knows it (Pocketsflow, Pocketbook); Standard Webhooks types are the app's own, so the
// first MAX_FREE_TYPES seen are kept and the rest are `other`. Never an event id.
import {
  isPocketbookEventType,
  isPocketsflowEventType,
  POCKETBOOK_EVENT_TYPES,
  POCKETSFLOW_EVENT_TYPES,
  UNTYPED,
  type Provider,
  type WebhookEvent,
} from '@pocketsflow-webhooks/core'

/** Standard Webhooks event types kept as labels before the rest count as `other`. */
export const MAX_FREE_TYPES = 100

export const OTHER = 'other'

/** What a free (Standard Webhooks) type must look like to be a label: short, plain characters. */
const LABEL_SAFE = /^[\w.:/-]{1,100}$/

export function typeLabeller(): (event: Pick<WebhookEvent, 'type' | 'provider'>) => string {
  const seen = new Set<string>()
  return ({ type, provider }) => {
    if (type === UNTYPED) return OTHER
    if (provider === 'pocketsflow') return isPocketsflowEventType(type) ? type : OTHER
    if (provider === 'pocketbook') return isPocketbookEventType(type) ? type : OTHER
    if (seen.has(type)) return type
    // Bounded in number and in length: a label is a name, not a payload.
    if (seen.size >= MAX_FREE_TYPES || !LABEL_SAFE.test(type)) return OTHER
    seen.add(type)
    return type
  }
}

/** Seconds from milliseconds: both exporters' unit. */
export const seconds = (ms: number): number => ms / 1000

/** The type labels known in advance for a provider (its catalogue and `other`), for series that start at 0. */
export function knownTypeLabels(provider: Provider): readonly string[] {
  if (provider === 'pocketsflow') return [...POCKETSFLOW_EVENT_TYPES, OTHER]
  if (provider === 'pocketbook') return [...POCKETBOOK_EVENT_TYPES, OTHER]
  return [OTHER]
}
