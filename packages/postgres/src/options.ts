// What postgresInbox() accepts, its defaults, and the checks that turn the options into settings.
import { DEFAULT_RETENTION_MS, positiveNumber } from '@pocketsflow-webhooks/core/inbox'
import type { Pool } from 'pg'

/** How long a finished event's id keeps deduplicating redeliveries: the core's, for every engine. */
export { DEFAULT_RETENTION_MS }
export const DEFAULT_CONCURRENCY = 10
export const DEFAULT_POLL_INTERVAL_MS = 1000

export interface PostgresInboxOptions {
  /** `postgres://user:password@host:5432/db`. The inbox then owns its pool and ends it on close(). */
  connectionString?: string
  /** Your own `pg.Pool` instead: the inbox uses it and never ends it. */
  pool?: Pool
  /** Table name (default `pocketsflow_webhook_inbox`). Several inboxes on one table share its events. */
  table?: string
  /** Schema of the table (default: the connection's search_path, usually `public`). */
  schema?: string
  /**
   * How long a processed event's row is kept, deduplicating redeliveries of its id (default 30 days).
   * Workers delete older ones in small batches. Dead letters are kept until replayed.
   */
  retentionMs?: number
  /** Events processed at once by this inbox's workers (default 10). */
  concurrency?: number
  /**
   * Fallback poll for due work (default 1000 ms). New events wake the workers at once through
   * LISTEN/NOTIFY; polling picks up retries that come due, expired leases and missed notifications.
   */
  pollIntervalMs?: number
  /**
   * How long a claim holds an event before another worker may take it over (default: the handler
   * time limit + 10 s). A heartbeat extends it while the handlers run, so it only bounds how soon an
   * event is re-run after its worker crashed.
   */
  leaseMs?: number
  /** Create the table and its indexes on first use (default true). `false` if you run `migrationSql()` yourself. */
  createTable?: boolean
}

/** The numeric options, checked, with their defaults filled in. */
export interface Settings {
  readonly retentionMs: number
  readonly concurrency: number
  readonly pollIntervalMs: number
  /** `leaseMs` as given; undefined sizes the lease from the handler time limit (see InboxState.leaseMs). */
  readonly leaseMs: number | undefined
  readonly createTable: boolean
  /** How often the workers delete expired rows and report unreported dead letters. */
  readonly cleanupEveryMs: number
}

/** Checks the options' numbers, in the order they are listed, throwing a TypeError on the first wrong one. */
export function resolveSettings(options: PostgresInboxOptions): Settings {
  const retentionMs = positiveNumber('retentionMs', options.retentionMs, DEFAULT_RETENTION_MS, { allowZero: true })
  const concurrency = Math.floor(positiveNumber('concurrency', options.concurrency, DEFAULT_CONCURRENCY))
  if (concurrency < 1) throw new TypeError('pocketsflow-webhooks: "concurrency" must be at least 1')
  const pollIntervalMs = positiveNumber('pollIntervalMs', options.pollIntervalMs, DEFAULT_POLL_INTERVAL_MS)
  const leaseMs = options.leaseMs === undefined ? undefined : positiveNumber('leaseMs', options.leaseMs, 0)
  const createTable = options.createTable !== false
  // Deleting expired rows once a minute is plenty; a short retention (tests) is honoured sooner.
  const cleanupEveryMs = Math.min(60_000, Math.max(1000, retentionMs))
  return { retentionMs, concurrency, pollIntervalMs, leaseMs, createTable, cleanupEveryMs }
}
