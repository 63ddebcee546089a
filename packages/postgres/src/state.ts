// The state one inbox's parts share and start() / close() change, in one explicit object.
import type { Logger } from '@pocketsflow-webhooks/core'
import { silentLogger, type InboxProcessor } from '@pocketsflow-webhooks/core/inbox'
import type { Pool } from 'pg'
import type { Names } from './schema.js'

/** Added to the handler time limit to size the default lease: a handler that hits its limit still ends inside its lease. */
const LEASE_MARGIN_MS = 10_000


/**
 * What the record path, the LISTEN connection, the worker and its attempts read about their inbox
 * while it runs. Everything else each part keeps to itself.
 */
export class InboxState {
  /** Set by start(): nothing is claimed before. */
  processor: InboxProcessor | undefined = undefined
  /** The processor's logger once started; silent before. */
  logger: Logger = silentLogger
  /** close() has begun: nothing new is recorded, claimed or listened for. */
  closing = false
  /** The own pool has been ended: nothing can be written any more. */
  ended = false
  readonly #leaseOption: number | undefined

  constructor(leaseOption: number | undefined) {
    this.#leaseOption = leaseOption
  }

  /** How long a claim holds its event: the `leaseMs` option, or the handler time limit + a margin. */
  leaseMs(): number {
    return this.#leaseOption ?? (this.processor ? this.processor.attemptTimeoutMs : 30_000) + LEASE_MARGIN_MS
  }
}

/** What the LISTEN connection, the worker, its attempts and its cleanup work with. */
export interface InboxContext {
  readonly pool: Pool
  readonly names: Names
  readonly state: InboxState
}
