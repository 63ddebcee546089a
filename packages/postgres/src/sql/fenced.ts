import type { Statement } from '../database.js'
import type { Names } from '../schema.js'
import type { Claim } from './claim.js'

/**
 * Fenced write: applies only while the row is still held by this claim. `set` may use $3 onwards
 * for `values`.
 */
export function fencedUpdate(n: Names, claim: Claim, set: string, values: unknown[] = []): Statement {
  return {
    text: `UPDATE ${n.qualified} SET ${set}, updated_at = now() WHERE id = $1 AND lease = $2 AND status = 'running'`,
    values: [claim.id, claim.lease, ...values],
  }
}
