// What the worker does now and then besides claiming: report dead letters whose worker died before
// reporting them, and delete expired rows.
import { type WebhookEvent } from '@pocketsflow-webhooks/core'
import { parseEvent } from '@pocketsflow-webhooks/core/inbox'
import { query } from './database.js'
import { CLEANUP_BATCH, deleteExpired } from './sql/cleanup.js'
import { takeUnreported, type UnreportedRow } from './sql/report-pending.js'
import type { InboxContext } from './state.js'

const CLEANUP_MAX_BATCHES = 20

/** Reports the dead letters left unreported, then deletes rows past their retention, a batch at a time. */
export async function cleanup(ctx: InboxContext, retentionMs: number): Promise<void> {
  await reportPendingDeadLetters(ctx)
  try {
    for (let i = 0; i < CLEANUP_MAX_BATCHES && !ctx.state.closing; i++) {
      const result = await query(ctx.pool, deleteExpired(ctx.names, retentionMs))
      if ((result.rowCount ?? 0) < CLEANUP_BATCH) return
    }
  } catch (error) {
    ctx.state.logger.warn({ err: error, table: ctx.names.qualified }, 'postgres inbox: could not delete expired rows; will try again')
  }
}

/**
 * Dead letters that were stored but never reported: their worker died between the write and
 * onError. Reported now, with the error that was stored, by one worker (the flag is cleared in the
 * same statement). Only letters older than a lease: a younger one's worker may be reporting it.
 */
async function reportPendingDeadLetters(ctx: InboxContext): Promise<void> {
  const proc = ctx.state.processor
  if (!proc) return
  try {
    const result = await query<UnreportedRow>(ctx.pool, takeUnreported(ctx.names, ctx.state.leaseMs()))
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
    ctx.state.logger.warn({ err: error, table: ctx.names.qualified }, 'postgres inbox: could not look for unreported dead letters; will try again')
  }
}
