// Label values: bounded, whatever a sender sends. An event type is a label only when the sender's
// catalogue knows it (Pocketsflow, Pocketbook); Standard Webhooks types are the app's own, so the
// first MAX_FREE_TYPES seen are kept and the rest are `other`. Never an event id.
import {
  isPocketbookEventType,
  isPocketsflowEventType,
  POCKETBOOK_EVENT_TYPES,
  POCKETSFLOW_EVENT_TYPES,
  UNTYPED,
  type HookSource,
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

/** How long a gauge waits for an inbox's depth() before it gives up on this reading. */
export const DEPTH_DEADLINE_MS = 2000

/**
 * The backlog of every distinct inbox among `sources` (a receiver and a worker on one inbox count
 * once), read with a deadline: undefined when there is no inbox, or when a reading failed or took
 * too long (a store incident must not hang a scrape, nor leave a stale number behind).
 */
export async function readInboxDepth(sources: Iterable<HookSource>): Promise<{ pending: number; deadLetters: number } | undefined> {
  const byInbox = new Map<unknown, NonNullable<HookSource['inboxDepth']>>()
  for (const source of sources) if (source.inboxDepth) byInbox.set(source.inbox ?? source, source.inboxDepth)
  if (byInbox.size === 0) return undefined
  let timer: unknown
  const deadline = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, DEPTH_DEADLINE_MS)
    ;(timer as { unref?: () => void }).unref?.()
  })
  try {
    const depths = await Promise.race([Promise.all([...byInbox.values()].map((read) => read())), deadline])
    if (depths === undefined) return undefined
    return depths.reduce((sum, depth) => ({ pending: sum.pending + depth.pending, deadLetters: sum.deadLetters + depth.deadLetters }), { pending: 0, deadLetters: 0 })
  } catch {
    return undefined
  } finally {
    clearTimeout(timer as Parameters<typeof clearTimeout>[0])
  }
}
