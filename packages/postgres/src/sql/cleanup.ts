import type { Statement } from '../database.js'
import type { Names } from '../schema.js'

/** Rows one cleanup statement touches at most. */
export const CLEANUP_BATCH = 1000

/** Deletes a batch of events finished longer than `retentionMs` ago (dead letters are kept). */
export function deleteExpired(n: Names, retentionMs: number): Statement {
  const t = n.qualified
  return {
    text: `DELETE FROM ${t} WHERE id IN (
             SELECT id FROM ${t} WHERE status = 'done' AND finished_at < now() - $1 * interval '1 millisecond'
             ORDER BY finished_at LIMIT ${CLEANUP_BATCH} FOR UPDATE SKIP LOCKED)`,
    values: [retentionMs],
  }
}
