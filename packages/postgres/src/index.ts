import { createHash } from 'node:crypto'
import {
  describeThrown,
  parseEvent,
  serializeEvent,
  storableText,
  WebhookReceiverClosedError,
  type ClaimResult,
  type DeadLetter,
  type InboxOutcome,
  type InboxProcessor,
  type Logger,
  type WebhookEvent,
  type WebhookInbox,
} from '@pocketsflow-webhooks/core'
import pg from 'pg'
import type { Pool, PoolClient, QueryConfig, QueryResult, QueryResultRow } from 'pg'

export const DEFAULT_TABLE = 'pocketsflow_webhook_inbox'
/**
 * How long a finished event's id keeps deduplicating redeliveries (30 days): a body captured once
 * and replayed later, with a fresh unsigned timestamp, must not run again.
 */
export const DEFAULT_RETENTION_MS = 30 * 24 * 60 * 60 * 1000
export const DEFAULT_CONCURRENCY = 10
export const DEFAULT_POLL_INTERVAL_MS = 1000
/** Added to the handler time limit to size the default lease: a handler that hits its limit still ends inside its lease. */
const LEASE_MARGIN_MS = 10_000
/** A record must fail fast enough for the receiver to answer 503 within its 2 s deadline. */
const RECORD_TIMEOUT_MS = 1500
const CONNECT_TIMEOUT_MS = 1000
/** Worker queries: long enough for a busy server, short enough that a hung connection does not stall the loop forever. */
const WORKER_QUERY_TIMEOUT_MS = 10_000
/** After close() aborts the running attempts, how long they get to return and release their rows. */
const RELEASE_GRACE_MS = 2000
// Retry backoff cap: a database back after an outage is noticed within this, or at once by a record.
const MAX_BACKOFF_MS = 10_000
const CLEANUP_BATCH = 1000
const CLEANUP_MAX_BATCHES = 20

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

export interface PostgresInbox extends WebhookInbox {
  /** The quoted, schema-qualified table name, for your own queries. */
  readonly table: string
}

interface Names {
  qualified: string
  channel: string
  lockKey: string
  claimIndex: string
  finishedIndex: string
  schema: string | undefined
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

function names(options: { table?: string; schema?: string }): Names {
  const table = options.table ?? DEFAULT_TABLE
  // Index names are derived from the table name and PostgreSQL cuts identifiers at 63 bytes:
  // refuse names that would be cut rather than silently share an index name with another table.
  if (typeof table !== 'string' || table.length === 0 || Buffer.byteLength(table) > 48) {
    throw new TypeError('pocketsflow-webhooks: "table" must be a name of 1 to 48 bytes')
  }
  if (options.schema !== undefined && (typeof options.schema !== 'string' || options.schema.length === 0 || Buffer.byteLength(options.schema) > 63)) {
    throw new TypeError('pocketsflow-webhooks: "schema" must be a name of 1 to 63 bytes')
  }
  const qualified = options.schema === undefined ? quoteIdent(table) : `${quoteIdent(options.schema)}.${quoteIdent(table)}`
  // One channel per table, short whatever the names: inboxes on other tables are not woken.
  const hash = createHash('sha256').update(`${options.schema ?? ''}.${table}`).digest('hex').slice(0, 16)
  return {
    qualified,
    channel: `pocketsflow_inbox_${hash}`,
    lockKey: `pocketsflow_inbox_${hash}`,
    claimIndex: quoteIdent(`${table}_claimable_idx`),
    finishedIndex: quoteIdent(`${table}_finished_idx`),
    schema: options.schema,
  }
}

/**
 * Which server and database a pool connects to, as far as its options tell (`host:port/database`),
 * so that two inboxes on one table can be recognised (the core's `WebhookInbox.queue`).
 */
function describeServer(pool: Pool): string {
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

/**
 * The SQL that creates the inbox table and its indexes, for those who manage migrations
 * themselves (then pass `createTable: false`). Idempotent.
 */
export function migrationSql(options: { table?: string; schema?: string } = {}): string {
  const n = names(options)
  return `${n.schema === undefined ? '' : `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(n.schema)};\n`}CREATE TABLE IF NOT EXISTS ${n.qualified} (
  id text PRIMARY KEY,
  type text NOT NULL,
  -- serializeEvent() text, kept byte for byte (jsonb would reorder keys and refuses \\u0000)
  event text NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'dead')),
  -- attempts started, the current one included (ctx.attempt)
  attempts integer NOT NULL DEFAULT 0,
  -- fencing token: +1 on every claim, never decreases; every write after a claim checks it
  lease bigint NOT NULL DEFAULT 0,
  run_at timestamptz NOT NULL DEFAULT now(),
  locked_until timestamptz,
  completed_handlers text[] NOT NULL DEFAULT '{}',
  -- a dead letter's failed handlers, and whether onError has yet to hear of it (a crash between the
  -- write and the report leaves it true: the next worker reports it, with the stored error)
  failed_handlers text[] NOT NULL DEFAULT '{}',
  report_pending boolean NOT NULL DEFAULT false,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
-- tables created by earlier versions
ALTER TABLE ${n.qualified} ADD COLUMN IF NOT EXISTS failed_handlers text[] NOT NULL DEFAULT '{}';
ALTER TABLE ${n.qualified} ADD COLUMN IF NOT EXISTS report_pending boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS ${n.claimIndex} ON ${n.qualified} (run_at) WHERE status IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS ${n.finishedIndex} ON ${n.qualified} (finished_at) WHERE status IN ('done', 'dead');
`
}

interface ClaimedRow {
  id: string
  event: string
  attempts: number
  lease: string
  completed_handlers: string[]
}

/** What an attempt's outcome writes to its row. */
type Settlement =
  | { readonly kind: 'done' }
  | { readonly kind: 'retry'; readonly error: unknown; readonly completed: readonly string[]; readonly retryInMs: number }
  | {
      readonly kind: 'dead'
      readonly error: unknown
      readonly completed: readonly string[]
      readonly failed: readonly string[]
      /** onError is due once it is written (not for an event that can't even be read). */
      readonly reportable: boolean
    }

/** One running attempt, as close() and the heartbeat see it. */
interface Running {
  readonly controller: AbortController
  /** close() ran out of time: a failed outcome releases the row instead of counting as a failure. */
  releasing: boolean
  /** The claim is (or may be) gone: a failed outcome is not written, the next claim decides. */
  lost: boolean
  done: Promise<void>
}

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} }
const noop = () => {}

function message(error: unknown): string {
  // PostgreSQL text cannot hold NUL: one in an error message would make the outcome's write fail.
  return describeThrown(error).replace(/\u0000/g, '')
}

/**
 * Whether an error says PostgreSQL could not be reached (or asked to be tried again), rather than
 * that it refused the statement: connection exceptions (SQLSTATE 08…), a server shutting down or
 * starting (57P0…), too many connections, a conflict to retry, and errors PostgreSQL did not send
 * (refused or cut sockets, timeouts).
 */
function isUnreachable(error: unknown): boolean {
  if (!(error instanceof pg.DatabaseError)) return true
  const code = error.code ?? ''
  return code.startsWith('08') || code.startsWith('57P0') || code === '53300' || code === '40001' || code === '40P01'
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Resolves true when `promise` settled within `ms`, false otherwise; never rejects. */
function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]).finally(() => clearTimeout(timer))
}

function positive(value: number | undefined, name: string, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new TypeError(`pocketsflow-webhooks: "${name}" must be a ${allowZero ? 'non-negative' : 'positive'} number`)
  }
  return value
}

/**
 * A durable webhook inbox on a PostgreSQL table: `record()` stores each event (deduplicated by id)
 * before the receiver answers 200, and the workers claim events with `FOR UPDATE SKIP LOCKED`,
 * run the handlers under a fenced, heartbeated lease, and retry or dead-letter them.
 */
export function postgresInbox(options: PostgresInboxOptions): PostgresInbox {
  if (options === null || typeof options !== 'object') throw new TypeError('pocketsflow-webhooks: postgresInbox needs { connectionString } or { pool }')
  if (options.pool === undefined && typeof options.connectionString !== 'string') {
    throw new TypeError('pocketsflow-webhooks: postgresInbox needs { connectionString } or { pool }')
  }
  const n = names(options)
  const t = n.qualified
  const retentionMs = positive(options.retentionMs, 'retentionMs', DEFAULT_RETENTION_MS, true)
  const concurrency = Math.floor(positive(options.concurrency, 'concurrency', DEFAULT_CONCURRENCY))
  if (concurrency < 1) throw new TypeError('pocketsflow-webhooks: "concurrency" must be at least 1')
  const pollIntervalMs = positive(options.pollIntervalMs, 'pollIntervalMs', DEFAULT_POLL_INTERVAL_MS)
  const leaseOption = options.leaseMs === undefined ? undefined : positive(options.leaseMs, 'leaseMs', 0)
  const createTable = options.createTable !== false
  // Deleting expired rows once a minute is plenty; a short retention (tests) is honoured sooner.
  const cleanupEveryMs = Math.min(60_000, Math.max(1000, retentionMs))

  const ownPool = options.pool === undefined
  const pool: Pool =
    options.pool ??
    new pg.Pool({
      connectionString: options.connectionString,
      // Without it a connect to a server that does not answer waits for the OS TCP timeout, far past
      // the receiver's deadline; refused connections fail at once anyway.
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      // A connection cut silently (no RST) would otherwise look alive forever: the LISTEN one would
      // stop delivering notifications with no error. Keepalive probes find it dead.
      keepAlive: true,
      // Attempts, heartbeats, records and the LISTEN connection share it.
      max: Math.max(10, concurrency + 3),
    })

  let processor: InboxProcessor | undefined
  let logger: Logger = silent
  // An idle pooled connection that dies (server restart, network cut) is reported here; without a
  // listener Node would treat it as an unhandled 'error' event and exit. Only on our own pool:
  // a pool you pass is yours to watch.
  if (ownPool) pool.on('error', (error) => logger.warn({ err: error }, 'postgres inbox: an idle connection failed; the pool replaces it'))

  let closing = false
  /** The own pool has been ended: nothing can be written any more. */
  let ended = false
  let closed: Promise<void> | undefined
  const inflight = new Map<string, Running>()

  // --- table ---------------------------------------------------------------------------------

  let ready: Promise<void> | undefined
  function ensureTable(): Promise<void> {
    if (!createTable) return Promise.resolve()
    ready ??= createIfMissing().catch((error: unknown) => {
      ready = undefined // retried on the next call: the database may be back by then
      throw error
    })
    return ready
  }

  async function createIfMissing(): Promise<void> {
    const client = await pool.connect()
    let broken: Error | undefined
    // A checked-out client has no 'error' listener of the pool's: a connection that dies here (a
    // restart, pg_terminate_backend) would otherwise be an unhandled 'error' event and end the process.
    const onError = (error: Error) => void (broken ??= error)
    client.on('error', onError)
    // Bounded: a connection that stops answering (a partition) must not leave `ready`, and with it
    // every record and claim, waiting for ever, nor keep the pool from ending.
    const run = (text: string, values?: unknown[]) => client.query({ text, values, query_timeout: WORKER_QUERY_TIMEOUT_MS } as QueryConfig)
    try {
      await run('BEGIN')
      // Concurrent CREATE TABLE IF NOT EXISTS from several processes can still collide on the
      // catalog's unique indexes: serialize them on a lock of their own.
      await run('SELECT pg_advisory_xact_lock(hashtext($1))', [n.lockKey])
      await run(migrationSql(options))
      await run('COMMIT')
    } catch (error) {
      // No ROLLBACK: after a timeout the connection is still busy and it would wait for ever.
      // Releasing with an error destroys the connection, which rolls the transaction back.
      broken ??= error instanceof Error ? error : new Error(message(error))
      throw error
    } finally {
      // On a broken connection the listener stays, swallowing any late report from its socket.
      if (!broken) client.removeListener('error', onError)
      client.release(broken)
    }
  }

  function query<R extends QueryResultRow>(text: string, values: unknown[], timeoutMs = WORKER_QUERY_TIMEOUT_MS): Promise<QueryResult<R>> {
    // query_timeout is the client-side limit; pool.query then destroys the connection that timed
    // out rather than handing a busy one to the next caller.
    const config = { text, values, query_timeout: timeoutMs } as QueryConfig
    return pool.query<R>(config)
  }

  // --- recording -----------------------------------------------------------------------------

  // The first type comes from the snapshot before the insert: the type a duplicate was first
  // recorded under (NULL for a new row).
  const recordSql = `WITH recorded AS (
  INSERT INTO ${t} AS inbox (id, type, event) VALUES ($1, $2, $3)
  ON CONFLICT (id) DO UPDATE
    SET status = 'pending', attempts = 0, run_at = now(), locked_until = NULL, finished_at = NULL, report_pending = false, updated_at = now()
    -- the sender re-sent an event we gave up on: it is processed again rather than acknowledged as a
    -- duplicate, and the handlers that succeeded before (completed_handlers) are not run again
    WHERE inbox.status = 'dead'
  RETURNING 1
), notified AS (SELECT pg_notify($4, '') FROM recorded)
SELECT (SELECT count(*) FROM notified)::int AS recorded, (SELECT type FROM ${t} WHERE id = $1) AS first_type`

  async function record(event: WebhookEvent): Promise<ClaimResult> {
    if (closing) throw new Error('pocketsflow-webhooks: the postgres inbox is closed')
    const text = serializeEvent(event)
    // The column is for listing: the event itself is stored whole (JSON escapes what text cannot hold).
    const type = storableText(event.type)
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`pocketsflow-webhooks: PostgreSQL did not store the event within ${RECORD_TIMEOUT_MS} ms`)), RECORD_TIMEOUT_MS)
    })
    try {
      // One overall limit over connect + create + insert: the receiver must answer within its own.
      const work = (async () => {
        await ensureTable()
        const result = await query<{ recorded: number; first_type: string | null }>(recordSql, [event.id, type, text, n.channel], RECORD_TIMEOUT_MS)
        // Stored, so PostgreSQL is back: don't let the workers sleep out their backoff.
        if (failures > 0 || (processor && !listener)) kick()
        const row = result.rows[0]
        if (row?.recorded === 1) return true
        const firstType = row?.first_type
        if (typeof firstType !== 'string') return false
        return { firstType: firstType === type ? event.type : firstType }
      })()
      work.catch(noop) // it may settle after the deadline won
      return await Promise.race([work, deadline])
    } finally {
      clearTimeout(timer)
    }
  }

  // --- workers -------------------------------------------------------------------------------

  let pollTimer: NodeJS.Timeout | undefined
  let pumping: Promise<void> | undefined
  let pumpAgain = false
  let failures = 0
  let lastCleanup = 0

  function leaseMs(): number {
    return leaseOption ?? (processor ? processor.attemptTimeoutMs : 30_000) + LEASE_MARGIN_MS
  }

  function schedule(): void {
    clearTimeout(pollTimer)
    if (closing) return
    const delay = failures === 0 ? pollIntervalMs : Math.min(pollIntervalMs * 2 ** Math.min(failures, 16), MAX_BACKOFF_MS)
    pollTimer = setTimeout(() => void pump(), delay)
  }

  /** Claims and launches work until the slots are full or nothing is due. One at a time. */
  function pump(): Promise<void> {
    if (closing || !processor) return Promise.resolve()
    if (pumping) {
      pumpAgain = true
      return pumping
    }
    pumping = (async () => {
      try {
        do {
          pumpAgain = false
          while (!closing && inflight.size < concurrency) {
            const want = concurrency - inflight.size
            const rows = await claim(want)
            for (const row of rows) launch(row)
            if (rows.length < want) break
          }
        } while (pumpAgain && !closing)
        if (failures > 0) logger.info({ table: t }, 'postgres inbox: PostgreSQL reachable again, workers resumed')
        failures = 0
        if (Date.now() - lastCleanup >= cleanupEveryMs) {
          lastCleanup = Date.now()
          await cleanup()
        }
      } catch (error) {
        failures++
        // Once per outage at error level, then quietly: the loop retries with backoff by itself.
        if (failures === 1) logger.error({ err: error, table: t }, 'postgres inbox: cannot claim events; retrying with backoff')
        else logger.debug({ err: error, table: t, failures }, 'postgres inbox: still cannot claim events')
      } finally {
        pumping = undefined
        schedule()
      }
    })()
    return pumping
  }

  async function claim(limit: number): Promise<ClaimedRow[]> {
    await ensureTable()
    const result = await query<ClaimedRow>(
      `UPDATE ${t} SET status = 'running', attempts = attempts + 1, lease = lease + 1,
         locked_until = now() + $2 * interval '1 millisecond', updated_at = now()
       WHERE id IN (
         SELECT id FROM ${t}
         WHERE ((status = 'pending' AND run_at <= now()) OR (status = 'running' AND locked_until < now()))
           -- not one this process is still running, its lease lapsed while PostgreSQL was away: it
           -- would run beside itself; its outcome is written once PostgreSQL is back (or another
           -- process takes it over, as it must when this one died)
           AND NOT (id = ANY($3::text[]))
         ORDER BY run_at
         LIMIT $1
         FOR UPDATE SKIP LOCKED
       )
       RETURNING id, event, attempts, lease::text AS lease, completed_handlers`,
      [limit, leaseMs(), [...inflight.keys()]],
    )
    return result.rows
  }

  /** Fenced write: applies only while the row is still held by this claim. */
  async function fenced(row: ClaimedRow, set: string, values: unknown[] = []): Promise<boolean> {
    const result = await query(`UPDATE ${t} SET ${set}, updated_at = now() WHERE id = $1 AND lease = $2 AND status = 'running'`, [row.id, row.lease, ...values])
    return result.rowCount === 1
  }

  function launch(row: ClaimedRow): void {
    const running: Running = { controller: new AbortController(), releasing: false, lost: false, done: Promise.resolve() }
    inflight.set(row.id, running)
    running.done = runClaimed(row, running)
      .catch((error: unknown) => logger.error({ err: error, eventId: row.id }, 'postgres inbox: unexpected error while processing an event'))
      .finally(() => {
        inflight.delete(row.id)
        void pump()
      })
  }

  async function runClaimed(row: ClaimedRow, running: Running): Promise<void> {
    const proc = processor as InboxProcessor
    if (closing) {
      // Claimed while close() began: hand it straight back, uncounted.
      await release(row)
      return
    }
    let event: WebhookEvent
    try {
      event = parseEvent(row.event)
    } catch (error) {
      await settle(row, running, { kind: 'dead', error: `the stored event could not be read: ${message(error)}`, completed: [], failed: [], reportable: false })
      return
    }
    if (row.attempts > proc.maxAttempts) {
      // The previous claim used the last attempt and never reported back: its process died or lost
      // the lease mid-run. Running it again would exceed the retry budget, and a poison event that
      // crashes the process would otherwise loop forever.
      const error = new Error(`the process running attempt ${row.attempts - 1} of ${proc.maxAttempts} stopped before it finished (crash or lost lease)`)
      proc.logger.error({ eventId: row.id, attempts: row.attempts - 1 }, 'postgres inbox: event dead-lettered after its last attempt was interrupted')
      // This claim started nothing: the dead letter reports the attempts that actually ran.
      const written = await settle(row, running, { kind: 'dead', error, completed: [], failed: [], reportable: true }, 'attempts = attempts - 1, ')
      // No attempt reported this failure, so onError hears of it from here: once, from the worker
      // whose dead letter was written (another that took the event over decides otherwise).
      if (written) await reported(row, () => proc.deadLettered(event, row.attempts - 1, error))
      return
    }
    // Kept beating until the outcome is written, not just while the handlers run: a commit slowed
    // past the lease would otherwise let another worker re-run handlers that already succeeded.
    const stopHeartbeat = heartbeat(row, running)
    try {
      await runAndSettle(row, running, proc, event)
    } finally {
      stopHeartbeat()
    }
  }

  async function runAndSettle(row: ClaimedRow, running: Running, proc: InboxProcessor, event: WebhookEvent): Promise<void> {
    let outcome: InboxOutcome
    try {
      outcome = await proc.run({
        event,
        attempt: row.attempts,
        completed: row.completed_handlers,
        markCompleted: async (handler) => {
          if (!(await fenced(row, 'completed_handlers = array_append(completed_handlers, $3)', [handler]))) {
            lose(running, 'another worker took over the event')
            throw new Error('pocketsflow-webhooks: lease lost; the handler will be recorded by the attempt that holds it')
          }
        },
        signal: running.controller.signal,
      })
    } catch (error) {
      // run() never rejects; if it somehow did, the lease expiry re-runs the event.
      proc.logger.error({ err: error, eventId: row.id }, 'postgres inbox: the processor failed unexpectedly')
      return
    }
    if (outcome.ok) {
      await settle(row, running, { kind: 'done' })
      return
    }
    // Only an attempt our own abort cut short is handed back or abandoned. A handler failure is
    // written (fenced) even then: a final one must end as a dead letter, not run again past
    // maxAttempts.
    if (outcome.interrupted && running.releasing && outcome.abandoned) {
      // A handler that ignores its signal may still be running: handed back now, another worker
      // would run it beside this one. Given back when its lease lapses instead, uncounted.
      proc.logger.warn({ eventId: row.id, attempt: row.attempts }, 'postgres inbox: a handler was still running when close() gave up on it; its event is given back when its lease lapses')
      await release(row, 'attempts = attempts - 1')
      return
    }
    if (outcome.interrupted && running.releasing) {
      await release(row)
      return
    }
    if (outcome.interrupted && running.lost) {
      // The failure is our own abort, not the handler's: leave the row to whoever holds it now,
      // or to the next claim once the lease expires (which counts this run as an attempt).
      proc.logger.warn({ eventId: row.id, attempt: row.attempts }, 'postgres inbox: attempt abandoned after losing its lease; not recorded')
      return
    }
    const { error, completed, failed } = outcome
    if (!outcome.final) {
      await settle(row, running, { kind: 'retry', error, completed, retryInMs: outcome.retryInMs })
      return
    }
    // Stored first, then reported: a crash in between leaves report_pending for the next worker.
    if (await settle(row, running, { kind: 'dead', error, completed, failed, reportable: true })) await reported(row, outcome.report)
  }

  /** Reports a stored dead letter, then clears its report_pending (left set if the process dies first). */
  async function reported(row: ClaimedRow, report: () => void): Promise<void> {
    report()
    try {
      await query(`UPDATE ${t} SET report_pending = false WHERE id = $1 AND lease = $2 AND status = 'dead'`, [row.id, row.lease])
    } catch (error) {
      logger.warn({ err: error, eventId: row.id }, 'postgres inbox: could not record that a dead letter was reported; it may be reported again')
    }
  }

  function lose(running: Running, why: string): void {
    if (running.lost) return
    running.lost = true
    running.controller.abort(new Error(`pocketsflow-webhooks: ${why}`))
  }

  /** Keeps the lease alive while the handlers run; aborts the attempt once the claim is gone. */
  function heartbeat(row: ClaimedRow, running: Running): () => void {
    const lease = leaseMs()
    const every = Math.max(20, Math.floor(lease / 3))
    let extendedAt = Date.now() // the claim itself; a conservative local view of the lease
    let busy = false
    const timer = setInterval(() => {
      if (busy || running.lost) return
      busy = true
      const sentAt = Date.now()
      query(`UPDATE ${t} SET locked_until = now() + $3 * interval '1 millisecond' WHERE id = $1 AND lease = $2 AND status = 'running'`, [row.id, row.lease, lease], every)
        .then((result) => {
          if (result.rowCount === 1) extendedAt = sentAt
          else lose(running, 'another worker took over the event (lease expired)')
        })
        .catch((error: unknown) => {
          // Unreachable past the lease: another worker may run the event now, so stop ours.
          if (Date.now() - extendedAt >= lease) lose(running, 'lease expired while PostgreSQL was unreachable')
          else logger.warn({ err: error, eventId: row.id }, 'postgres inbox: could not extend the lease; retrying')
        })
        .finally(() => (busy = false))
    }, every)
    return () => clearInterval(timer)
  }

  /**
   * Writes the attempt's outcome, retrying while PostgreSQL is unreachable, past the lease too: the
   * write is fenced, so it lands only if no other worker took the event over meanwhile, and this
   * process does not take it again while it is here (see claim()). Giving up at the lease would
   * run the event again though its handlers succeeded. An error that is not about reaching
   * PostgreSQL (a permission, a read-only server) is not waited out past the lease: the event runs
   * again elsewhere. Resolves whether it was written (false: the lease was lost, or it gave up).
   * The handlers that succeeded are added to completed_handlers here too: their early record may
   * have failed, and a retry or a replay must not run them again.
   */
  async function settle(row: ClaimedRow, running: Running, outcome: Settlement, extra = ''): Promise<boolean> {
    const giveUpAt = Date.now() + leaseMs()
    const completed = `completed_handlers = completed_handlers || ARRAY(SELECT h FROM unnest($3::text[]) h WHERE h <> ALL(completed_handlers))`
    const [update, values]: [string, unknown[]] =
      outcome.kind === 'done'
        ? [`status = 'done', finished_at = now(), locked_until = NULL`, []]
        : outcome.kind === 'dead'
          ? [
              `status = 'dead', finished_at = now(), locked_until = NULL, ${completed}, last_error = $4, failed_handlers = $5, report_pending = $6`,
              [outcome.completed, message(outcome.error), outcome.failed, outcome.reportable],
            ]
          : [
              `status = 'pending', run_at = now() + $5 * interval '1 millisecond', locked_until = NULL, ${completed}, last_error = $4`,
              [outcome.completed, message(outcome.error), Math.max(0, outcome.retryInMs)],
            ]
    const set = extra + update
    for (let wait = 100; ; wait = Math.min(wait * 2, 5000)) {
      try {
        if (!(await fenced(row, set, values))) {
          logger.warn({ eventId: row.id, attempt: row.attempts }, 'postgres inbox: lease lost before the outcome was written; the newer attempt decides')
          return false
        }
        return true
      } catch (error) {
        if (ended || (closing && running.releasing) || (!isUnreachable(error) && Date.now() + wait >= giveUpAt)) {
          logger.error(
            { err: error, eventId: row.id, attempt: row.attempts },
            'postgres inbox: could not record the outcome; the event runs again once its lease expires',
          )
          return false
        }
        if (wait === 100) logger.warn({ err: error, eventId: row.id, attempt: row.attempts }, 'postgres inbox: could not record the outcome yet; retrying until PostgreSQL answers')
        await sleep(wait)
      }
    }
  }

  /** Hands an interrupted claim back: pending at once (or, with `set`, as it says), and the interrupted run not counted. */
  async function release(row: ClaimedRow, set = `status = 'pending', attempts = attempts - 1, run_at = now(), locked_until = NULL`): Promise<void> {
    try {
      await fenced(row, set)
    } catch (error) {
      logger.warn({ err: error, eventId: row.id }, 'postgres inbox: could not release the event; it runs again once its lease expires')
    }
  }

  async function cleanup(): Promise<void> {
    await reportPendingDeadLetters()
    try {
      for (let i = 0; i < CLEANUP_MAX_BATCHES && !closing; i++) {
        const result = await query(
          `DELETE FROM ${t} WHERE id IN (
             SELECT id FROM ${t} WHERE status = 'done' AND finished_at < now() - $1 * interval '1 millisecond'
             ORDER BY finished_at LIMIT ${CLEANUP_BATCH} FOR UPDATE SKIP LOCKED)`,
          [retentionMs],
        )
        if ((result.rowCount ?? 0) < CLEANUP_BATCH) return
      }
    } catch (error) {
      logger.warn({ err: error, table: t }, 'postgres inbox: could not delete expired rows; will try again')
    }
  }

  /**
   * Dead letters that were stored but never reported: their worker died between the write and
   * onError. Reported now, with the error that was stored, by one worker (the flag is cleared in the
   * same statement). Only letters older than a lease: a younger one's worker may be reporting it.
   */
  async function reportPendingDeadLetters(): Promise<void> {
    const proc = processor
    if (!proc) return
    try {
      const result = await query<{ event: string; attempts: number; last_error: string | null; failed_handlers: string[] }>(
        `UPDATE ${t} SET report_pending = false WHERE id IN (
           SELECT id FROM ${t} WHERE status = 'dead' AND report_pending AND finished_at < now() - $1 * interval '1 millisecond'
           ORDER BY finished_at LIMIT ${CLEANUP_BATCH} FOR UPDATE SKIP LOCKED)
         RETURNING event, attempts, last_error, failed_handlers`,
        [leaseMs()],
      )
      for (const row of result.rows) {
        let event: WebhookEvent
        try {
          event = parseEvent(row.event)
        } catch {
          continue // edited by hand into something unreadable: listed in SQL, nothing to report with
        }
        proc.deadLettered(event, row.attempts, new Error(row.last_error ?? 'unknown error'), row.failed_handlers)
      }
    } catch (error) {
      logger.warn({ err: error, table: t }, 'postgres inbox: could not look for unreported dead letters; will try again')
    }
  }

  function kick(): void {
    if (closing || !processor) return
    if (failures > 0) void pump()
    if (!listener && listenTimer !== undefined) {
      clearTimeout(listenTimer)
      listenTimer = undefined
      void listen()
    }
  }

  // --- LISTEN --------------------------------------------------------------------------------

  let listener: PoolClient | undefined
  /** A connection checked out for LISTEN, waiting for the LISTEN to answer. */
  let connectingListener: PoolClient | undefined
  let listenTimer: NodeJS.Timeout | undefined
  let listenFailures = 0

  async function listen(): Promise<void> {
    if (closing) return
    let client: PoolClient | undefined
    try {
      client = await pool.connect()
      const mine = client
      mine.on('error', (error) => dropListener(mine, error))
      if (closing) return dropListener(mine)
      mine.on('notification', () => void pump())
      // close() drops it even while LISTEN has not answered: a connection that stopped answering
      // would otherwise stay checked out, and the pool's end() would wait for it for ever.
      connectingListener = mine
      try {
        await mine.query({ text: `LISTEN ${quoteIdent(n.channel)}`, query_timeout: WORKER_QUERY_TIMEOUT_MS } as QueryConfig)
      } finally {
        if (connectingListener === mine) connectingListener = undefined
      }
      if (closing || dropped.has(mine)) return dropListener(mine)
      listener = mine
      listenFailures = 0
      // Anything recorded while we were not listening is picked up now rather than at the next poll.
      void pump()
    } catch (error) {
      if (client) dropListener(client, error)
      else retryListen(error)
    }
  }

  const dropped = new WeakSet<PoolClient>()
  function dropListener(client: PoolClient, error?: unknown): void {
    if (dropped.has(client)) return
    dropped.add(client)
    if (listener === client) listener = undefined
    client.removeAllListeners('notification')
    client.on('error', noop) // a dead socket may still report; it is already handled
    // Destroyed, never returned to the pool: a connection still LISTENing must not serve queries.
    client.release(true)
    if (error !== undefined) retryListen(error)
  }

  function retryListen(error: unknown): void {
    if (closing) return
    listenFailures++
    if (listenFailures === 1) logger.warn({ err: error, table: t }, 'postgres inbox: LISTEN connection lost; polling until it is back')
    clearTimeout(listenTimer)
    listenTimer = setTimeout(() => {
      listenTimer = undefined
      void listen()
    }, Math.min(pollIntervalMs * 2 ** Math.min(listenFailures, 16), MAX_BACKOFF_MS))
  }

  // --- the interface -------------------------------------------------------------------------

  return {
    table: t,
    queue: `postgres ${describeServer(pool)} ${options.schema === undefined ? '' : `${quoteIdent(options.schema)}.`}${quoteIdent(options.table ?? DEFAULT_TABLE)}`,
    record,
    start(proc) {
      if (processor) throw new Error('pocketsflow-webhooks: the postgres inbox was already started')
      if (closing) throw new Error('pocketsflow-webhooks: the postgres inbox is closed')
      processor = proc
      logger = proc.logger
      void listen()
      void pump()
    },
    async deadLetters(opts) {
      const requested = Math.floor(opts?.limit ?? 100)
      const limit = Number.isFinite(requested) ? Math.max(1, requested) : 100
      await ensureTable()
      const result = await query<{ id: string; attempts: number; last_error: string | null; finished_at: Date; event: string; completed_handlers: string[]; failed_handlers: string[] }>(
        `SELECT id, attempts, last_error, finished_at, event, completed_handlers, failed_handlers FROM ${t} WHERE status = 'dead' ORDER BY finished_at DESC, id LIMIT $1`,
        [limit],
      )
      const letters: DeadLetter[] = []
      for (const r of result.rows) {
        let event: WebhookEvent
        try {
          event = parseEvent(r.event)
        } catch {
          continue // a row edited by hand into something unreadable: visible in SQL, not here
        }
        letters.push({
          id: r.id,
          type: event.type,
          attempts: r.attempts,
          lastError: r.last_error ?? undefined,
          failedAt: r.finished_at,
          event,
          completedHandlers: r.completed_handlers,
          failedHandlers: r.failed_handlers,
        })
      }
      return letters
    },
    async replay(id) {
      await ensureTable()
      const result = await query(
        `WITH replayed AS (
           UPDATE ${t} SET status = 'pending', attempts = 0, run_at = now(), locked_until = NULL, finished_at = NULL, report_pending = false, updated_at = now()
           WHERE id = $1 AND status = 'dead' RETURNING 1)
         SELECT pg_notify($2, '') FROM replayed`,
        [id, n.channel],
      )
      return result.rowCount === 1
    },
    close(closeOptions) {
      closed ??= (async () => {
        closing = true
        clearTimeout(pollTimer)
        clearTimeout(listenTimer)
        if (listener) dropListener(listener)
        if (connectingListener) dropListener(connectingListener)
        const timeoutMs = closeOptions?.timeoutMs ?? Infinity
        // A claim in flight launches (or releases) its rows first, so they are waited for too.
        if (pumping) await settledWithin(pumping, WORKER_QUERY_TIMEOUT_MS)
        const all = Promise.all([...inflight.values()].map((r) => r.done))
        if (timeoutMs === Infinity) await all
        else if (!(await settledWithin(all, timeoutMs))) {
          for (const running of inflight.values()) {
            running.releasing = true
            running.controller.abort(new WebhookReceiverClosedError())
          }
          await settledWithin(all, RELEASE_GRACE_MS)
        }
        if (ownPool) {
          ended = true
          await pool.end()
        }
      })()
      return closed
    },
  }
}
