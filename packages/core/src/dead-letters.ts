import type { FailedEvent } from './dispatch.js'
import { describeThrown } from './errors.js'
import type { DeadLetter } from './inbox.js'
import type { Logger } from './types.js'

/** How many failed events a receiver without an inbox keeps for `deadLetters()` and `replay()`. */
export const DEFAULT_MAX_DEAD_LETTERS = 1000

/**
 * Dead letters of in-memory dispatch: events whose handlers failed their last attempt, kept (most
 * recent `max`, in this process only, until it exits) so that they can be listed and their failed
 * handlers run again. A durable inbox keeps its own, across processes and restarts.
 */
export class MemoryDeadLetters {
  /** By event id, oldest first. */
  readonly #letters = new Map<string, DeadLetter>()
  readonly #max: number
  readonly #logger: Logger

  constructor(max: number | undefined, logger: Logger) {
    const value = max ?? DEFAULT_MAX_DEAD_LETTERS
    if (!Number.isInteger(value) || value < 0) throw new TypeError('pocketsflow-webhooks: "maxDeadLetters" must be an integer >= 0')
    this.#max = value
    this.#logger = logger
  }

  get size(): number {
    return this.#letters.size
  }

  keep(failure: FailedEvent): void {
    const { event } = failure
    // A re-send that failed again replaces the earlier letter, as the newest.
    this.#letters.delete(event.id)
    this.#letters.set(event.id, {
      id: event.id,
      type: event.type,
      attempts: failure.attempts,
      lastError: describeThrown(failure.error),
      failedAt: new Date(),
      event,
      failedHandlers: failure.failed,
      completedHandlers: failure.completed,
    })
    while (this.#letters.size > this.#max) {
      const oldest = this.#letters.keys().next().value as string
      this.#letters.delete(oldest)
      this.#logger.error({ eventId: oldest, maxDeadLetters: this.#max }, 'dead letter dropped to stay within maxDeadLetters (it was reported to onError when it failed)')
    }
  }

  /** Newest first. */
  list(limit = 50): DeadLetter[] {
    if (!Number.isInteger(limit) || limit < 1) throw new TypeError(`pocketsflow-webhooks: deadLetters: "limit" must be a whole number >= 1, got ${String(limit)}`)
    const all = [...this.#letters.values()]
    return all.slice(Math.max(0, all.length - limit)).reverse()
  }

  get(id: string): DeadLetter | undefined {
    return this.#letters.get(id)
  }

  /** Removes and returns the letter of an event, to run it again. */
  take(id: string): DeadLetter | undefined {
    const letter = this.#letters.get(id)
    if (letter) this.#letters.delete(id)
    return letter
  }
}
