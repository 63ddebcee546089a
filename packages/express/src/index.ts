import { createWebhookReceiver, type Provider, type WebhookReceiver, type SchemaMap, type WebhookReceiverOptions } from '@pocketsflow-webhooks/core'
import { handleNodeRequest } from '@pocketsflow-webhooks/core/node'
import type { IncomingMessage, ServerResponse } from 'node:http'

export type PocketsflowWebhookOptions<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>> = WebhookReceiverOptions<P, S>

/** Express middleware (4 and 5) with the receiver attached, for shutdown and inspection. */
export interface PocketsflowWebhookMiddleware {
  (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): void
  readonly receiver: WebhookReceiver
  /** Stops accepting deliveries (503) and waits for running handlers. */
  close(options?: { timeoutMs?: number }): Promise<void>
}

const MOUNT_ADVICE =
  'mount app.use(pocketsflowWebhook(...)) before express.json() / express.text() / bodyParser, or keep the raw bytes: ' +
  'express.raw() in front of it, or express.json({ verify: (req, res, buf) => { req.rawBody = buf } })'

interface ExpressRequest extends IncomingMessage {
  /** Set by a `verify` hook that kept the raw bytes. */
  rawBody?: Buffer | string
  /** The parsed body: the exact bytes when `express.raw()` read it. */
  body?: unknown
  /** body-parser's marker that it consumed the stream. */
  _body?: boolean
}

/**
 * The signed bytes, when a parser mounted earlier kept them: a `verify` hook's `req.rawBody`, or
 * `express.raw()`'s Buffer in `req.body`. A string body (`express.text()`) is decoded text, not the
 * bytes: it is not used, so the answer is the configuration error that says how to mount.
 */
function keptRawBody(req: ExpressRequest): Buffer | string | undefined {
  if (req.rawBody !== undefined && req.rawBody !== null) return req.rawBody
  // body-parser 1 (Express 4) marks a read body with `_body`; body-parser 2 (Express 5) leaves the stream ended.
  const read = req._body === true || req.readableEnded
  return read && Buffer.isBuffer(req.body) ? req.body : undefined
}

/**
 * `app.use(pocketsflowWebhook({ secret, on }))`: answers POSTs on its path (default
 * `/webhooks/pocketsflow`, relative to where it is mounted) and passes every other request on.
 * @example
 * ```ts
 * const webhook = pocketsflowWebhook({
 *   secret: process.env.POCKETSFLOW_WEBHOOK_SECRET,
 *   on: { 'order.completed': async (event) => grantAccess(event.data.customer.email) },
 * })
 * app.use(webhook) // before express.json()
 * process.once('SIGTERM', () => webhook.close({ timeoutMs: 10_000 }))
 * ```
 */
export function pocketsflowWebhook<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>>(options: PocketsflowWebhookOptions<P, S>): PocketsflowWebhookMiddleware {
  const receiver = createWebhookReceiver(options)
  const middleware = (req: ExpressRequest, res: ServerResponse, next: (error?: unknown) => void): void => {
    if (!receiver.matchesPath(req.url)) return next()
    handleNodeRequest(receiver, req, res, { rawBody: keptRawBody(req), consumed: req._body === true, mountAdvice: MOUNT_ADVICE }).catch(next)
  }
  return Object.assign(middleware, { receiver, close: receiver.close })
}

// The whole core (types, isEventType, MemoryDedupeStore, signWebhook, …): users of this adapter
// need no second dependency for them.
export * from '@pocketsflow-webhooks/core'
