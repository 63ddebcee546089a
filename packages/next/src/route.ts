// The App Router route handler, shared by the Node entry (node:crypto core) and the Edge entry
// (Web Crypto core): each passes its own receiver in, so nothing here imports a crypto backend.
import type { Logger, Provider, ReceiverResult, WebhookReceiver, WebhookReceiverOptions } from '@pocketsflow-webhooks/core'
import { prepareReceiver } from './build-phase.js'
import { createScheduler, type NextAfter, type Schedule, type ScheduleOptions } from './schedule.js'

export type PocketsflowWebhookOptions<P extends Provider = 'pocketsflow'> = WebhookReceiverOptions<P> & ScheduleOptions

/** `export const POST = pocketsflowWebhook({...})`: a Route Handler with the receiver attached. */
export interface PocketsflowRouteHandler {
  (request: Request): Promise<Response>
  readonly receiver: WebhookReceiver
  /** How the handlers run after an accepted delivery (see the `schedule` option). */
  readonly schedule: Schedule
  /** Stops accepting deliveries (503) and waits for running handlers. */
  close(options?: { timeoutMs?: number }): Promise<void>
}

const BODY_USED =
  'the Request body was read before the webhook handler (request.json(), text(), formData() or arrayBuffer()), ' +
  'so its exact bytes are gone: pass the untouched Request to the handler, or a request.clone() made before reading it'

const TOO_LARGE = Symbol('too large')
const UNREADABLE = Symbol('unreadable')

/** The exact body bytes, at most `limit` of them: a lying or absent Content-Length can't make us buffer more. */
async function readBody(request: Request, limit: number): Promise<Uint8Array | typeof TOO_LARGE | typeof UNREADABLE> {
  const declared = request.headers.get('content-length')
  const length = declared !== null && /^\d{1,16}$/.test(declared) ? Number(declared) : undefined
  if (length !== undefined && length > limit) return TOO_LARGE
  const stream = request.body
  if (stream === null) return new Uint8Array(0)
  try {
    // With a Content-Length, HTTP framing already bounds the body: one arrayBuffer() is the fast path.
    if (length !== undefined) return new Uint8Array(await request.arrayBuffer())
    const reader = stream.getReader()
    const chunks: Uint8Array[] = []
    let size = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > limit) {
        void reader.cancel().catch(() => {})
        return TOO_LARGE
      }
      chunks.push(value)
    }
    // Views of this realm: Next's Edge sandbox hands out chunks whose Uint8Array is another realm's.
    if (chunks.length === 1) {
      const only = chunks[0] as ArrayBufferView
      return only instanceof Uint8Array ? only : new Uint8Array(only.buffer, only.byteOffset, only.byteLength)
    }
    const body = new Uint8Array(size)
    let offset = 0
    for (const chunk of chunks) {
      body.set(chunk, offset)
      offset += chunk.byteLength
    }
    return body
  } catch {
    // The client went away mid-body, or the stream errored: nothing authentic to process.
    return UNREADABLE
  }
}

async function receive(receiver: WebhookReceiver, request: Request): Promise<ReceiverResult> {
  const { method, headers } = request
  const checked = receiver.precheck({ method, headers })
  if (checked.rejected) return checked.rejected
  if (request.bodyUsed) return receiver.reject('configuration_error', BODY_USED)
  const body = await readBody(request, receiver.bodyLimit)
  if (body === TOO_LARGE) return receiver.reject('body_too_large')
  if (body === UNREADABLE) return receiver.reject('body_unreadable')
  return receiver.handleNow({ method, headers, body, checked })
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
      result = await receive(receiver(), request)
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
