// The App Router route handler, shared by the Node entry (node:crypto core) and the Edge entry
// (Web Crypto core): each passes its own receiver in, so nothing here imports a crypto backend.
// Reading the Request is the core's Fetch glue; what is Next's here is when the handlers run.
import type { Logger, Provider, ReceiverResult, SchemaMap, WebhookReceiver, WebhookReceiverOptions } from '@pocketsflow-webhooks/core'
import { receiveFetchRequest } from '@pocketsflow-webhooks/core/inbox'
import { prepareReceiver } from './build-phase.js'
import { createScheduler, type NextAfter, type Schedule, type ScheduleOptions } from './schedule.js'

export type PocketsflowWebhookOptions<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>> = WebhookReceiverOptions<P, S> & ScheduleOptions

/** `export const POST = pocketsflowWebhook({...})`: a Route Handler with the receiver attached. */
export interface PocketsflowRouteHandler {
  (request: Request): Promise<Response>
  readonly receiver: WebhookReceiver
  /** How the handlers run after an accepted delivery (see the `schedule` option). */
  readonly schedule: Schedule
  /** Stops accepting deliveries (503) and waits for running handlers. */
  close(options?: { timeoutMs?: number }): Promise<void>
}

const MISCONFIGURED = { status: 500, headers: { 'content-type': 'application/json; charset=utf-8' } }

/** Wraps a receiver (built by the Node or the Edge entry) as a `(request: Request) => Promise<Response>`. */
export function createRouteHandler<O extends ScheduleOptions & { secret?: unknown }>(
  createReceiver: (options: O) => WebhookReceiver,
  options: O,
  logger: Logger,
  nextAfter: NextAfter | undefined,
): PocketsflowRouteHandler {
  const schedule = createScheduler(options, logger, nextAfter)
  const receiver = prepareReceiver(createReceiver, options, logger)
  const handler = async (request: Request): Promise<Response> => {
    let result: ReceiverResult
    try {
      result = await receiveFetchRequest(receiver(), request)
    } catch (error) {
      // The core never throws; this is a receiver that `next build` deferred and that still can't
      // be built (see build-phase.ts), or a handler called with something that is not a Request.
      logger.error({ err: error }, 'webhook receiver misconfigured')
      return new Response('{"error":"webhook receiver misconfigured"}', MISCONFIGURED)
    }
    if (result.after) {
      const inline = schedule(result.after)
      if (inline) await inline
    }
    const { status, headers, body } = result.response
    return new Response(body, { status, headers })
  }
  return Object.defineProperties(Object.assign(handler, { schedule: schedule.mode, close: (o?: { timeoutMs?: number }) => receiver().close(o) }), {
    receiver: { get: receiver, enumerable: true },
  }) as PocketsflowRouteHandler
}
