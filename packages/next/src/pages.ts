// Pages Router API routes, on the Node.js runtime: this module is reached from the Node entry only
// (it reads the body from Node's IncomingMessage).
import { createWebhookReceiver, type Provider, type WebhookReceiver, type SchemaMap, type WebhookReceiverOptions } from '@pocketsflow-webhooks/core'
import { resolveLogger } from '@pocketsflow-webhooks/core/inbox'
import { handleNodeRequest } from '@pocketsflow-webhooks/core/node'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { prepareReceiver } from './build-phase.js'
import { createScheduler, type ScheduleOptions } from './schedule.js'

export type PocketsflowPagesWebhookOptions<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>> = WebhookReceiverOptions<P, S> &
  ScheduleOptions & {
    /** Next.js runs after() callbacks only in the App Router: `'waitUntil'` or `'inline'` here. */
    schedule?: 'waitUntil' | 'inline'
  }

/** `export default pocketsflowPagesWebhook({...})` in `pages/api/…`, with the receiver attached. */
export interface PocketsflowPagesHandler {
  (req: IncomingMessage, res: ServerResponse): Promise<void>
  readonly receiver: WebhookReceiver
  /** How the handlers run after an accepted delivery (see the `schedule` option). */
  readonly schedule: 'waitUntil' | 'inline'
  /** Stops accepting deliveries (503) and waits for running handlers. */
  close(options?: { timeoutMs?: number }): Promise<void>
}

const MOUNT_ADVICE =
  'add `export const config = { api: { bodyParser: false } }` to this pages/api route: Next.js parsed the body, ' +
  'and the signature covers the exact bytes that were sent'

/**
 * `export default pocketsflowPagesWebhook({ secret, on })` in `pages/api/webhooks/pocketsflow.ts`,
 * next to `export const config = { api: { bodyParser: false } }`. Without that config, deliveries
 * are answered 500 and the log names the fix (the parsed body can't be verified).
 * @example
 * ```ts
 * // pages/api/webhooks/pocketsflow.ts
 * export const config = { api: { bodyParser: false } }
 * export default pocketsflowPagesWebhook({ secret: process.env.POCKETSFLOW_WEBHOOK_SECRET, on: { 'order.completed': grant } })
 * ```
 */
export function pocketsflowPagesWebhook<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>>(options: PocketsflowPagesWebhookOptions<P, S>): PocketsflowPagesHandler {
  const logger = resolveLogger(options?.logger)
  const schedule = createScheduler(options, logger, undefined, ['waitUntil', 'inline'])
  const receiver = prepareReceiver((o) => createWebhookReceiver(o), options, logger)
  const handler = (req: IncomingMessage & { body?: unknown }, res: ServerResponse): Promise<void> =>
    handleNodeRequest(receiver(), req, res, { consumed: req.body !== undefined, mountAdvice: MOUNT_ADVICE, schedule })
  const mode = schedule.mode as 'waitUntil' | 'inline'
  return Object.defineProperties(Object.assign(handler, { schedule: mode, close: (o?: { timeoutMs?: number }) => receiver().close(o) }), {
    receiver: { get: receiver, enumerable: true },
  }) as PocketsflowPagesHandler
}
