// Reaching PostgreSQL: the pool the inbox owns, bounded queries, and telling "unreachable" (wait it
// out) from "refused" (don't).
import { describeThrown } from '@pocketsflow-webhooks/core/inbox'
import pg from 'pg'
import type { Pool, QueryConfig, QueryResult, QueryResultRow } from 'pg'

const CONNECT_TIMEOUT_MS = 1000
/** Worker queries: long enough for a busy server, short enough that a hung connection does not stall the loop forever. */
export const WORKER_QUERY_TIMEOUT_MS = 10_000
// Retry backoff cap: a database back after an outage is noticed within this, or at once by a record.
const MAX_BACKOFF_MS = 10_000

/** One SQL statement and its parameters, as the builders in `sql/` return them. */
export interface Statement {
  readonly text: string
  readonly values: unknown[]
}

/** The pool an inbox given a `connectionString` creates, owns and ends on close(). */
export function createPool(connectionString: string | undefined, concurrency: number): Pool {
  return new pg.Pool({
    connectionString,
    // Without it a connect to a server that does not answer waits for the OS TCP timeout, far past
    // the receiver's deadline; refused connections fail at once anyway.
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // A connection cut silently (no RST) would otherwise look alive forever: the LISTEN one would
    // stop delivering notifications with no error. Keepalive probes find it dead.
    keepAlive: true,
    // Attempts, heartbeats, records and the LISTEN connection share it.
    max: Math.max(10, concurrency + 3),
  })
}

export function query<R extends QueryResultRow>(pool: Pool, statement: Statement, timeoutMs = WORKER_QUERY_TIMEOUT_MS): Promise<QueryResult<R>> {
  // query_timeout is the client-side limit; pool.query then destroys the connection that timed
  // out rather than handing a busy one to the next caller.
  const config = { text: statement.text, values: statement.values, query_timeout: timeoutMs } as QueryConfig
  return pool.query<R>(config)
}

/**
 * Whether an error says PostgreSQL could not be reached (or asked to be tried again), rather than
 * that it refused the statement: connection exceptions (SQLSTATE 08…), a server shutting down or
 * starting (57P0…), too many connections, a conflict to retry, and errors PostgreSQL did not send
 * (refused or cut sockets, timeouts).
 */
export function isUnreachable(error: unknown): boolean {
  if (!(error instanceof pg.DatabaseError)) return true
  const code = error.code ?? ''
  return code.startsWith('08') || code.startsWith('57P0') || code === '53300' || code === '40001' || code === '40P01'
}

/** How long to wait after `failures` failures in a row before trying PostgreSQL again. */
export function backoffMs(failures: number, pollIntervalMs: number): number {
  return Math.min(pollIntervalMs * 2 ** Math.min(failures, 16), MAX_BACKOFF_MS)
}

/** An error's message as a text column can store it. */
export function storableMessage(error: unknown): string {
  // PostgreSQL text cannot hold NUL: one in an error message would make the outcome's write fail.
  return describeThrown(error).replace(/\u0000/g, '')
}

/**
 * Which server and database a pool connects to, as far as its options tell (`host:port/database`),
 * so that two inboxes on one table can be recognised (the core's `WebhookInbox.queue`).
 */
export function describeServer(pool: Pool): string {
  const options = (pool as { options?: { connectionString?: string; host?: string; port?: number; database?: string } }).options ?? {}
  let url: URL | undefined
  try {
    url = options.connectionString === undefined ? undefined : new URL(options.connectionString)
  } catch {
    url = undefined
  }
  const host = options.host ?? (url?.hostname || 'localhost')
  const port = options.port ?? (url?.port ? Number(url.port) : 5432)
  const database = options.database ?? url?.pathname.slice(1) ?? ''
  return `${host === '127.0.0.1' ? 'localhost' : host}:${port}/${database}`
}
