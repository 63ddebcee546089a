import { randomUUID } from 'node:crypto'
import { storableText } from '@pocketsflow-webhooks/core/inbox'

/** What is stored per event in the BullMQ job. */
export interface JobData {
  /** The event, in core's text form. */
  event: string
  /** Handlers that already succeeded: a retry skips them. */
  completed?: string[]
  /** Starts given back by a closing worker: they do not count as attempts. */
  released?: number
}

/**
 * A job id unique to this recording: `enc(eventId)|enc(storableText(type))|uuid`, where enc is
 * `encodeURIComponent` (so `|` never appears in an encoded component). Event ids are not used as
 * is: BullMQ refuses ":" in custom ids (and integers), and a dead-lettered event recorded again
 * must get a new job even while the old one is still being removed; duplicates are caught by the
 * deduplication key instead, which holds this id for the retention: it carries the event type, so
 * that a duplicate can be told what type the event was first recorded under.
 */
export function encodeJobId(eventId: string, type: string): string {
  return `${encodeURIComponent(eventId)}|${encodeURIComponent(storableText(type))}|${randomUUID()}`
}

/**
 * The type a job id names (`storableText` of the type it was encoded with), or undefined: ids
 * written before types were kept name none, and neither does anything else. Never throws.
 */
export function decodeJobIdType(jobId: string | undefined): string | undefined {
  const parts = jobId?.split('|')
  if (parts?.length !== 3) return undefined
  try {
    return decodeURIComponent(parts[1] as string)
  } catch {
    return undefined
  }
}
