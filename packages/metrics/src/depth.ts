// The inboxes' backlog for the gauges of both exporters: every distinct inbox among the receivers
// and workers reporting here, read with a deadline at collection time.
import type { HookSource } from '@pocketsflow-webhooks/core'
import { settledWithin } from '@pocketsflow-webhooks/core/inbox'

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
  const reading = Promise.all([...byInbox.values()].map((read) => read()))
  if (!(await settledWithin(reading, DEPTH_DEADLINE_MS))) return undefined
  const depths = await reading.catch(() => undefined)
  return depths?.reduce((sum, depth) => ({ pending: sum.pending + depth.pending, deadLetters: sum.deadLetters + depth.deadLetters }), { pending: 0, deadLetters: 0 })
}
