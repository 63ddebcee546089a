import type { Statement } from '../database.js'
import type { Names } from '../schema.js'

export interface DeadLetterRow {
  id: string
  attempts: number
  last_error: string | null
  finished_at: Date
  event: string
  completed_handlers: string[]
  failed_handlers: string[]
}

/** The newest `limit` dead letters. */
export function listDeadLetters(n: Names, limit: number): Statement {
  return {
    text: `SELECT id, attempts, last_error, finished_at, event, completed_handlers, failed_handlers FROM ${n.qualified} WHERE status = 'dead' ORDER BY finished_at DESC, id LIMIT $1`,
    values: [limit],
  }
}

/** Queues a dead letter again, attempts from 1, and wakes the listening workers if there was one. */
export function replayDeadLetter(n: Names, id: string): Statement {
  return {
    text: `WITH replayed AS (
           UPDATE ${n.qualified} SET status = 'pending', attempts = 0, run_at = now(), locked_until = NULL, finished_at = NULL, report_pending = false, updated_at = now()
           WHERE id = $1 AND status = 'dead' RETURNING 1)
         SELECT pg_notify($2, '') FROM replayed`,
    values: [id, n.channel],
  }
}
