// One claimed event, from claim to written outcome: read it, run its handlers under a heartbeated
// lease, write the outcome (fenced), and report a dead letter once it is stored.
import { type WebhookEvent } from '@pocketsflow-webhooks/core'
import { parseEvent, type InboxOutcome, type InboxProcessor } from '@pocketsflow-webhooks/core/inbox'
import { isUnreachable, query, storableMessage, type Statement } from './database.js'
import type { ClaimedRow } from './sql/claim.js'
import { extendLease } from './sql/heartbeat.js'
import { markHandlerCompleted } from './sql/mark-completed.js'
import { releaseClaim, uncountAndLetLapse } from './sql/release.js'
import { markReported } from './sql/report-pending.js'
import { settleClaim, type Settlement } from './sql/settle.js'
import type { InboxContext } from './state.js'
import { sleep } from '@pocketsflow-webhooks/core/inbox'

/** One running attempt, as close() and the heartbeat see it. */
export interface Running {
  readonly controller: AbortController
  /** close() ran out of time: a failed outcome releases the row instead of counting as a failure. */
  releasing: boolean
  /** The claim is (or may be) gone: a failed outcome is not written, the next claim decides. */
  lost: boolean
  done: Promise<void>
}

/** Runs one claimed event to its written outcome (or hands it back, if close() began meanwhile). */
export async function runClaimed(ctx: InboxContext, row: ClaimedRow, running: Running): Promise<void> {
  const proc = ctx.state.processor as InboxProcessor
  if (ctx.state.closing) {
    // Claimed while close() began: hand it straight back, uncounted.
    await release(ctx, row)
    return
  }
  let event: WebhookEvent
  try {
    event = parseEvent(row.event)
  } catch (error) {
    await settle(ctx, row, running, { kind: 'dead', error: `the stored event could not be read: ${storableMessage(error)}`, completed: [], failed: [], reportable: false })
    return
  }
  if (row.attempts > proc.maxAttempts) {
    // The previous claim used the last attempt and never reported back: its process died or lost
    // the lease mid-run. Running it again would exceed the retry budget, and a poison event that
    // crashes the process would otherwise loop forever.
    const error = new Error(`the process running attempt ${row.attempts - 1} of ${proc.maxAttempts} stopped before it finished (crash or lost lease)`)
    proc.logger.error({ eventId: row.id, attempts: row.attempts - 1 }, 'postgres inbox: event dead-lettered after its last attempt was interrupted')
    // This claim started nothing: the dead letter reports the attempts that actually ran.
    const written = await settle(ctx, row, running, { kind: 'dead', error, completed: [], failed: [], reportable: true }, true)
    // No attempt reported this failure, so onError hears of it from here: once, from the worker
    // whose dead letter was written (another that took the event over decides otherwise).
    if (written) await reported(ctx, row, () => proc.deadLettered(event, row.attempts - 1, error))
    return
  }
  // Kept beating until the outcome is written, not just while the handlers run: a commit slowed
  // past the lease would otherwise let another worker re-run handlers that already succeeded.
  const stopHeartbeat = heartbeat(ctx, row, running)
  try {
    await runAndSettle(ctx, row, running, proc, event)
  } finally {
    stopHeartbeat()
  }
}

/** Keeps the lease alive while the handlers run; aborts the attempt once the claim is gone. */
function heartbeat(ctx: InboxContext, row: ClaimedRow, running: Running): () => void {
  const lease = ctx.state.leaseMs()
  const every = Math.max(20, Math.floor(lease / 3))
  let extendedAt = Date.now() // the claim itself; a conservative local view of the lease
  let busy = false
  const timer = setInterval(() => {
    if (busy || running.lost) return
    busy = true
    const sentAt = Date.now()
    query(ctx.pool, extendLease(ctx.names, row, lease), every)
      .then((result) => {
        if (result.rowCount === 1) extendedAt = sentAt
        else lose(running, 'another worker took over the event (lease expired)')
      })
      .catch((error: unknown) => {
        // Unreachable past the lease: another worker may run the event now, so stop ours.
        if (Date.now() - extendedAt >= lease) lose(running, 'lease expired while PostgreSQL was unreachable')
        else ctx.state.logger.warn({ err: error, eventId: row.id }, 'postgres inbox: could not extend the lease; retrying')
      })
      .finally(() => (busy = false))
  }, every)
  return () => clearInterval(timer)
}

function lose(running: Running, why: string): void {
  if (running.lost) return
  running.lost = true
  running.controller.abort(new Error(`pocketsflow-webhooks: ${why}`))
}

async function runAndSettle(ctx: InboxContext, row: ClaimedRow, running: Running, proc: InboxProcessor, event: WebhookEvent): Promise<void> {
  let outcome: InboxOutcome
  try {
    outcome = await proc.run({
      event,
      attempt: row.attempts,
      completed: row.completed_handlers,
      markCompleted: async (handler) => {
        if (!(await fenced(ctx, markHandlerCompleted(ctx.names, row, handler)))) {
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
    await settle(ctx, row, running, { kind: 'done' })
    return
  }
  // Only an attempt our own abort cut short is handed back or abandoned. A handler failure is
  // written (fenced) even then: a final one must end as a dead letter, not run again past
  // maxAttempts.
  if (outcome.interrupted && running.releasing && outcome.abandoned) {
    // A handler that ignores its signal may still be running: handed back now, another worker
    // would run it beside this one. Given back when its lease lapses instead, uncounted.
    proc.logger.warn({ eventId: row.id, attempt: row.attempts }, 'postgres inbox: a handler was still running when close() gave up on it; its event is given back when its lease lapses')
    await release(ctx, row, uncountAndLetLapse(ctx.names, row))
    return
  }
  if (outcome.interrupted && running.releasing) {
    await release(ctx, row)
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
    await settle(ctx, row, running, { kind: 'retry', error, completed, retryInMs: outcome.retryInMs })
    return
  }
  // Stored first, then reported: a crash in between leaves report_pending for the next worker.
  if (await settle(ctx, row, running, { kind: 'dead', error, completed, failed, reportable: true })) await reported(ctx, row, outcome.report)
}

/**
 * Writes the attempt's outcome, retrying while PostgreSQL is unreachable, past the lease too: the
 * write is fenced, so it lands only if no other worker took the event over meanwhile, and this
 * process does not take it again while it is here (see claimDue()). Giving up at the lease would
 * run the event again though its handlers succeeded. An error that is not about reaching
 * PostgreSQL (a permission, a read-only server) is not waited out past the lease: the event runs
 * again elsewhere. Resolves whether it was written (false: the lease was lost, or it gave up).
 * The handlers that succeeded are added to completed_handlers here too: their early record may
 * have failed, and a retry or a replay must not run them again. `uncounted`: this claim ran no
 * attempt (see settleClaim()).
 */
async function settle(ctx: InboxContext, row: ClaimedRow, running: Running, outcome: Settlement, uncounted = false): Promise<boolean> {
  const { state } = ctx
  const giveUpAt = Date.now() + state.leaseMs()
  const statement = settleClaim(ctx.names, row, outcome, uncounted)
  for (let wait = 100; ; wait = Math.min(wait * 2, 5000)) {
    try {
      if (!(await fenced(ctx, statement))) {
        state.logger.warn({ eventId: row.id, attempt: row.attempts }, 'postgres inbox: lease lost before the outcome was written; the newer attempt decides')
        return false
      }
      return true
    } catch (error) {
      if (state.ended || (state.closing && running.releasing) || (!isUnreachable(error) && Date.now() + wait >= giveUpAt)) {
        state.logger.error(
          { err: error, eventId: row.id, attempt: row.attempts },
          'postgres inbox: could not record the outcome; the event runs again once its lease expires',
        )
        return false
      }
      if (wait === 100) state.logger.warn({ err: error, eventId: row.id, attempt: row.attempts }, 'postgres inbox: could not record the outcome yet; retrying until PostgreSQL answers')
      await sleep(wait)
    }
  }
}

/** Reports a stored dead letter, then clears its report_pending (left set if the process dies first). */
async function reported(ctx: InboxContext, row: ClaimedRow, report: () => void): Promise<void> {
  report()
  try {
    await query(ctx.pool, markReported(ctx.names, row))
  } catch (error) {
    ctx.state.logger.warn({ err: error, eventId: row.id }, 'postgres inbox: could not record that a dead letter was reported; it may be reported again')
  }
}

/** Hands an interrupted claim back: pending at once (or, with `statement`, as it says), and the interrupted run not counted. */
async function release(ctx: InboxContext, row: ClaimedRow, statement: Statement = releaseClaim(ctx.names, row)): Promise<void> {
  try {
    await fenced(ctx, statement)
  } catch (error) {
    ctx.state.logger.warn({ err: error, eventId: row.id }, 'postgres inbox: could not release the event; it runs again once its lease expires')
  }
}

/** Runs a fenced write: whether it applied (false: the claim no longer holds the row). */
async function fenced(ctx: InboxContext, statement: Statement): Promise<boolean> {
  const result = await query(ctx.pool, statement)
  return result.rowCount === 1
}
