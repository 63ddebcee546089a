// postgresInbox(): checks the options and wires the parts together behind the core's WebhookInbox:
// record() on the receiver's side, start() for the workers, deadLetters(), replay() and close().
import { type ClaimResult, type DeadLetter, type WebhookEvent, type WebhookInbox } from '@pocketsflow-webhooks/core'
import { parseEvent, serializeEvent, storableText } from '@pocketsflow-webhooks/core/inbox'
import type { Pool } from 'pg'
import { createPool, describeServer, query } from './database.js'
import { Listener } from './listener.js'
import { TableMigration } from './migrate.js'
import { resolveSettings, type PostgresInboxOptions } from './options.js'
import { DEFAULT_TABLE, names, quoteIdent } from './schema.js'
import { listDeadLetters, replayDeadLetter, type DeadLetterRow } from './sql/dead-letters.js'
import { countDepth, type DepthRow } from './sql/depth.js'
import { recordEvent, type RecordedRow } from './sql/record.js'
import { InboxState, type InboxContext } from './state.js'
import { Worker } from './worker.js'

/** A record must fail fast enough for the receiver to answer 503 within its 2 s deadline. */
const RECORD_TIMEOUT_MS = 1500

const noop = () => {}

export interface PostgresInbox extends WebhookInbox {
  /** The quoted, schema-qualified table name, for your own queries. */
  readonly table: string
}

/**
 * A durable webhook inbox on a PostgreSQL table: `record()` stores each event (deduplicated by id)
 * before the receiver answers 200, and the workers claim events with `FOR UPDATE SKIP LOCKED`,
 * run the handlers under a fenced, heartbeated lease, and retry or dead-letter them.
 * @example
 * ```ts
 * app.use(pocketsflowWebhook({ secret, on, inbox: postgresInbox({ connectionString: process.env.DATABASE_URL }) }))
 * ```
 */
export function postgresInbox(options: PostgresInboxOptions): PostgresInbox {
  if (options === null || typeof options !== 'object') throw new TypeError('pocketsflow-webhooks: postgresInbox needs { connectionString } or { pool }')
  if (options.pool === undefined && typeof options.connectionString !== 'string') {
    throw new TypeError('pocketsflow-webhooks: postgresInbox needs { connectionString } or { pool }')
  }
  const n = names(options)
  const settings = resolveSettings(options)

  const ownPool = options.pool === undefined
  const pool: Pool = options.pool ?? createPool(options.connectionString, settings.concurrency)
  const state = new InboxState(settings.leaseMs)
  // An idle pooled connection that dies (server restart, network cut) is reported here; without a
  // listener Node would treat it as an unhandled 'error' event and exit. Only on our own pool:
  // a pool you pass is yours to watch.
  if (ownPool) pool.on('error', (error) => state.logger.warn({ err: error }, 'postgres inbox: an idle connection failed; the pool replaces it'))

  const ctx: InboxContext = { pool, names: n, state }
  const migration = new TableMigration(pool, options, n, settings.createTable)
  const worker = new Worker(ctx, settings, migration)
  const listener = new Listener(ctx, settings.pollIntervalMs, () => worker.pump())
  let closed: Promise<void> | undefined

  async function record(event: WebhookEvent): Promise<ClaimResult> {
    if (state.closing) throw new Error('pocketsflow-webhooks: the postgres inbox is closed')
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
        await migration.ensure()
        const result = await query<RecordedRow>(pool, recordEvent(n, event.id, type, text), RECORD_TIMEOUT_MS)
        // Stored, so PostgreSQL is back: don't let the workers sleep out their backoff.
        if (worker.backingOff || (state.processor && !listener.listening)) kick()
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

  function kick(): void {
    if (state.closing || !state.processor) return
    if (worker.backingOff) void worker.pump()
    listener.retryNow()
  }

  return {
    table: n.qualified,
    queue: `postgres ${describeServer(pool)} ${options.schema === undefined ? '' : `${quoteIdent(options.schema)}.`}${quoteIdent(options.table ?? DEFAULT_TABLE)}`,
    record,
    start(proc) {
      if (state.processor) throw new Error('pocketsflow-webhooks: the postgres inbox was already started')
      if (state.closing) throw new Error('pocketsflow-webhooks: the postgres inbox is closed')
      state.processor = proc
      state.logger = proc.logger
      void listener.listen()
      void worker.pump()
    },
    async deadLetters(opts) {
      const requested = Math.floor(opts?.limit ?? 100)
      const limit = Number.isFinite(requested) ? Math.max(1, requested) : 100
      await migration.ensure()
      const result = await query<DeadLetterRow>(pool, listDeadLetters(n, limit))
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
      await migration.ensure()
      const result = await query(pool, replayDeadLetter(n, id))
      return result.rowCount === 1
    },
    async depth() {
      await migration.ensure()
      const [row] = (await query<DepthRow>(pool, countDepth(n))).rows
      return { pending: Number(row?.pending ?? 0), deadLetters: Number(row?.dead ?? 0) }
    },
    close(closeOptions) {
      closed ??= (async () => {
        state.closing = true
        worker.stopPolling()
        listener.close()
        await worker.drain(closeOptions?.timeoutMs ?? Infinity)
        if (ownPool) {
          state.ended = true
          await pool.end()
        }
      })()
      return closed
    },
  }
}
