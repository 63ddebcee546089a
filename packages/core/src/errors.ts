import type { WebhookEvent } from './event.js'

/** A handler attempt ran past its time limit. */
export class WebhookHandlerTimeoutError extends Error {
  override readonly name = 'WebhookHandlerTimeoutError'
  constructor(readonly timeoutMs: number) {
    super(`webhook handler did not finish within ${timeoutMs} ms`)
  }
}

/** The receiver shut down before the event's handlers succeeded. */
export class WebhookReceiverClosedError extends Error {
  override readonly name = 'WebhookReceiverClosedError'
  constructor() {
    super('the webhook receiver closed before the handlers finished')
  }
}

/**
 * Handed to `onError` once an event's handling has failed for good: it carries the event, the
 * number of attempts and the last error (`cause`), so one object is enough to log, alert or store.
 */
export class WebhookHandlerError<E extends WebhookEvent = WebhookEvent> extends Error {
  override readonly name = 'WebhookHandlerError'
  readonly event: E
  readonly attempts: number
  /**
   * Which handler failed: the event type (`order.completed`, then `order.completed#2`… when a type
   * has several), `onEvent` (`onEvent#2`…) for the catch-alls, or `inbox` when a durable inbox gave
   * up on the event outside an attempt (its process died during the last attempt).
   */
  readonly handler: string

  constructor(event: E, handler: string, attempts: number, cause: unknown) {
    const why = describeThrown(cause)
    super(`handling ${event.type} (${event.id}) failed after ${attempts} attempt(s) in ${handler}: ${why}`, { cause })
    this.event = event
    this.attempts = attempts
    this.handler = handler
  }
}

/**
 * A short description of anything a handler can throw, for logs, `WebhookHandlerError` and the
 * durable inboxes' dead letters: an Error's message (or name, when the message is empty), a string
 * as it is, other values as JSON where they have one, and never a throw of its own (String() throws
 * on objects without a prototype).
 */
export function describeThrown(value: unknown): string {
  try {
    if (value instanceof Error) return value.message || value.name
    if (typeof value === 'string') return value
    return JSON.stringify(value) ?? String(value)
  } catch {
    try {
      return String(value)
    } catch {
      return 'a thrown value that cannot be printed'
    }
  }
}
