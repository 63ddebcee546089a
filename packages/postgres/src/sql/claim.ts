import type { Statement } from '../database.js'
import type { Names } from '../schema.js'

export interface ClaimedRow {
  id: string
  event: string
  attempts: number
  lease: string
  completed_handlers: string[]
}

/** What every write after a claim checks: the row, and the fencing token the claim got. */
export type Claim = Pick<ClaimedRow, 'id' | 'lease'>

/**
 * Claims up to `limit` due events (pending and due, or running with a lapsed lease) for `leaseMs`:
 * one more attempt, a new fencing token. `running`: the ids this process is still running.
 */
export function claimDue(n: Names, limit: number, leaseMs: number, running: string[]): Statement {
  const t = n.qualified
  return {
    text: `UPDATE ${t} SET status = 'running', attempts = attempts + 1, lease = lease + 1,
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
    values: [limit, leaseMs, running],
  }
}
