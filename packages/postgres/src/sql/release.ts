import type { Statement } from '../database.js'
import type { Names } from '../schema.js'
import type { Claim } from './claim.js'
import { fencedUpdate } from './fenced.js'

/** Hands an interrupted claim back: pending at once, and the interrupted run not counted. */
export function releaseClaim(n: Names, claim: Claim): Statement {
  return fencedUpdate(n, claim, `status = 'pending', attempts = attempts - 1, run_at = now(), locked_until = NULL`)
}

/**
 * Gives an abandoned claim back once its lease lapses, uncounted: the row stays running (its
 * handler may be too) until the next claim takes it over.
 */
export function uncountAndLetLapse(n: Names, claim: Claim): Statement {
  return fencedUpdate(n, claim, 'attempts = attempts - 1')
}
