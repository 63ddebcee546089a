import type { Statement } from '../database.js'
import type { Names } from '../schema.js'
import type { Claim } from './claim.js'
import { fencedUpdate } from './fenced.js'

/** Records, as soon as it succeeded, that one handler need not run again (fenced). */
export function markHandlerCompleted(n: Names, claim: Claim, handler: string): Statement {
  return fencedUpdate(n, claim, 'completed_handlers = array_append(completed_handlers, $3)', [handler])
}
