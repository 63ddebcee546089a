import { storableMessage, type Statement } from '../database.js'
import type { Names } from '../schema.js'
import type { Claim } from './claim.js'
import { fencedUpdate } from './fenced.js'

/** What an attempt's outcome writes to its row. */
export type Settlement =
  | { readonly kind: 'done' }
  | { readonly kind: 'retry'; readonly error: unknown; readonly completed: readonly string[]; readonly retryInMs: number }
  | {
      readonly kind: 'dead'
      readonly error: unknown
      readonly completed: readonly string[]
      readonly failed: readonly string[]
      /** onError is due once it is written (not for an event that can't even be read). */
      readonly reportable: boolean
    }

/**
 * Writes an outcome to the claimed row (fenced): done, pending again after `retryInMs`, or dead.
 * The handlers that succeeded are added to completed_handlers too. `uncounted`: the claim ran no
 * attempt, so it gives back the attempt it counted.
 */
export function settleClaim(n: Names, claim: Claim, outcome: Settlement, uncounted = false): Statement {
  const completed = `completed_handlers = completed_handlers || ARRAY(SELECT h FROM unnest($3::text[]) h WHERE h <> ALL(completed_handlers))`
  const [update, values]: [string, unknown[]] =
    outcome.kind === 'done'
      ? [`status = 'done', finished_at = now(), locked_until = NULL`, []]
      : outcome.kind === 'dead'
        ? [
            `status = 'dead', finished_at = now(), locked_until = NULL, ${completed}, last_error = $4, failed_handlers = $5, report_pending = $6`,
            [outcome.completed, storableMessage(outcome.error), outcome.failed, outcome.reportable],
          ]
        : [
            `status = 'pending', run_at = now() + $5 * interval '1 millisecond', locked_until = NULL, ${completed}, last_error = $4`,
            [outcome.completed, storableMessage(outcome.error), Math.max(0, outcome.retryInMs)],
          ]
  return fencedUpdate(n, claim, (uncounted ? 'attempts = attempts - 1, ' : '') + update, values)
}
