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
  override readonly name: string = 'WebhookHandlerError'
  /**
   * Not enumerable: a logger that serialises the error (pino's `err`, `console.error`) must not
   * write the whole payload, customer details included, into the logs.
   */
  declare readonly event: E
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
    Object.defineProperty(this, 'event', { value: event, enumerable: false, writable: false, configurable: true })
    this.attempts = attempts
    this.handler = handler
  }
}

/** One way a payload failed its schema: the message, and where (`['customer', 'email']`, `['items', 0]`). */
export interface ValidationIssue {
  readonly message: string
  readonly path: readonly (string | number)[]
}

/**
 * A payload failed the schema given for its type in `schemas`, so that type's handler did not run.
 * It takes the handler's place as its failure: not retried (the payload will not change), the
 * event kept as a dead letter (`replay()` runs the handler once the schema or the code is fixed),
 * and handed to `onError`, where `error instanceof WebhookValidationError` tells it apart.
 */
export class WebhookValidationError<E extends WebhookEvent = WebhookEvent> extends WebhookHandlerError<E> {
  override readonly name: string = 'WebhookValidationError'
  /** The canonical event type whose schema the payload failed. */
  readonly type: string
  /**
   * Each issue, with its message and path. Not enumerable, and only the paths are in `message`: a
   * validator's message may quote the value (valibot: `Received "ada@…"`), and a logger that
   * serialises the error, or a dead letter's stored `lastError`, must not carry customer data.
   */
  declare readonly issues: readonly ValidationIssue[]

  constructor(event: E, handler: string, attempt: number, issues: readonly ValidationIssue[]) {
    super(event, handler, attempt, undefined)
    const paths = issues.map((issue) => (issue.path.length > 0 ? issue.path.join('.') : '(the payload)'))
    this.message = `the ${event.type} payload (${event.id}) failed its schema at ${[...new Set(paths)].join(', ')}, so ${handler} did not run`
    this.type = event.type
    Object.defineProperty(this, 'issues', { value: issues, enumerable: false, writable: false, configurable: true })
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
