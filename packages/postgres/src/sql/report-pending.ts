import type { Statement } from '../database.js'
import type { Names } from '../schema.js'
import type { Claim } from './claim.js'
import { CLEANUP_BATCH } from './cleanup.js'

/** Clears report_pending once the worker that wrote a dead letter has reported it. */
export function markReported(n: Names, claim: Claim): Statement {
  return {
    text: `UPDATE ${n.qualified} SET report_pending = false WHERE id = $1 AND lease = $2 AND status = 'dead'`,
    values: [claim.id, claim.lease],
  }
}

export interface UnreportedRow {
  event: string
  attempts: number
  last_error: string | null
  failed_handlers: string[]
}

/**
 * Takes a batch of dead letters finished more than `olderThanMs` ago and never reported, clearing
 * their flag in the same statement: whoever gets them reports them.
 */
export function takeUnreported(n: Names, olderThanMs: number): Statement {
  const t = n.qualified
  return {
    text: `UPDATE ${t} SET report_pending = false WHERE id IN (
           SELECT id FROM ${t} WHERE status = 'dead' AND report_pending AND finished_at < now() - $1 * interval '1 millisecond'
           ORDER BY finished_at LIMIT ${CLEANUP_BATCH} FOR UPDATE SKIP LOCKED)
         RETURNING event, attempts, last_error, failed_handlers`,
    values: [olderThanMs],
  }
}
