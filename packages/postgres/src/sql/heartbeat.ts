import type { Statement } from '../database.js'
import type { Names } from '../schema.js'
import type { Claim } from './claim.js'

/** Extends a claim's lease by `leaseMs` from now, while the claim still holds the row. */
export function extendLease(n: Names, claim: Claim, leaseMs: number): Statement {
  return {
    text: `UPDATE ${n.qualified} SET locked_until = now() + $3 * interval '1 millisecond' WHERE id = $1 AND lease = $2 AND status = 'running'`,
    values: [claim.id, claim.lease, leaseMs],
  }
}
