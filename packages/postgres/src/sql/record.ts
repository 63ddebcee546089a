import type { Statement } from '../database.js'
import type { Names } from '../schema.js'

export interface RecordedRow {
  /** 1 if this statement stored the event (new, or a dead letter queued again), else 0. */
  recorded: number
  /** The type the id was first recorded under (NULL for a new row). */
  first_type: string | null
}

/**
 * Stores an event unless its id is already there, wakes the listening workers when it stored one,
 * and tells under which type the id was first recorded.
 */
export function recordEvent(n: Names, id: string, type: string, event: string): Statement {
  const t = n.qualified
  // The first type comes from the snapshot before the insert: the type a duplicate was first
  // recorded under (NULL for a new row).
  const text = `WITH recorded AS (
  INSERT INTO ${t} AS inbox (id, type, event) VALUES ($1, $2, $3)
  ON CONFLICT (id) DO UPDATE
    SET status = 'pending', attempts = 0, run_at = now(), locked_until = NULL, finished_at = NULL, report_pending = false, updated_at = now()
    -- the sender re-sent an event we gave up on: it is processed again rather than acknowledged as a
    -- duplicate, and the handlers that succeeded before (completed_handlers) are not run again
    WHERE inbox.status = 'dead'
  RETURNING 1
), notified AS (SELECT pg_notify($4, '') FROM recorded)
SELECT (SELECT count(*) FROM notified)::int AS recorded, (SELECT type FROM ${t} WHERE id = $1) AS first_type`
  return { text, values: [id, type, event, n.channel] }
}
