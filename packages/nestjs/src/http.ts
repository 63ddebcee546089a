// The two HTTP platforms Nest ships, translated to the core's Node glue. Nothing here decides a
// status code: the core does.
import type { ReceiverResult, WebhookEvent, WebhookReceiver } from '@pocketsflow-webhooks/core'
import { afterResponse, handleNodeRequest, receiveNodeRequest, verifyNodeRequest } from '@pocketsflow-webhooks/core/node'
import type { IncomingMessage, ServerResponse } from 'node:http'

const MOUNT_ADVICE =
  'create the application with NestFactory.create(AppModule, { rawBody: true }) (Express and Fastify alike; ' +
  'on Fastify, without bodyParser: false), so that Nest keeps the raw bytes in req.rawBody'

/** What the route and the guard receive as `@Req()`: an Express request, or a Fastify request wrapping one. */
export interface NestHttpRequest {
  /** Set by Nest's body parsers when the app was created with `{ rawBody: true }`. */
  readonly rawBody?: Buffer
  readonly body?: unknown
  /** Fastify: the Node request underneath. */
  readonly raw?: IncomingMessage
  /** body-parser's marker that it read the stream (Express). */
  readonly _body?: boolean
}

/** A Fastify reply: sending through it keeps Fastify's hooks and logging. */
interface FastifyReplyLike {
  readonly raw: ServerResponse
  code(status: number): FastifyReplyLike
  headers(values: Record<string, string>): FastifyReplyLike
  send(body: string): unknown
}

function isFastifyReply(res: unknown): res is FastifyReplyLike {
  return typeof (res as FastifyReplyLike).code === 'function' && typeof (res as FastifyReplyLike).raw === 'object'
}

function nodeRequest(req: NestHttpRequest): IncomingMessage {
  return req.raw ?? (req as unknown as IncomingMessage)
}

/**
 * Where the raw bytes come from: `req.rawBody` (JSON and urlencoded bodies, with `rawBody: true`);
 * a text body that a parser kept as a string (Fastify's own text/plain parser) is those bytes as
 * UTF-8; a body no parser touched is read from the stream. A body that was parsed without keeping
 * the bytes is the core's configuration error.
 */
function bodyInput(req: NestHttpRequest) {
  const rawBody = req.rawBody ?? (typeof req.body === 'string' ? req.body : undefined)
  return { rawBody, consumed: req._body === true, mountAdvice: MOUNT_ADVICE }
}

/** The route: answers exactly what the core decided, then runs the handlers once it is sent. */
export async function handleNestRequest(receiver: WebhookReceiver, req: NestHttpRequest, res: unknown): Promise<void> {
  if (!isFastifyReply(res)) return handleNodeRequest(receiver, nodeRequest(req), res as ServerResponse, bodyInput(req))
  // Fastify: sent through the reply, so Fastify's hooks and logging still apply.
  const result = await receiveNodeRequest(receiver, { req: nodeRequest(req), ...bodyInput(req) })
  const { status, headers, body } = result.response
  afterResponse(res.raw, result)
  res.code(status).headers({ ...headers }).send(body)
}

/** The guard: verification alone (signature, timestamp, size, JSON), the core's verdict; nothing claimed, no handlers. */
export function verifyNestRequest(receiver: WebhookReceiver, req: NestHttpRequest): Promise<ReceiverResult> {
  return verifyNodeRequest(receiver, { req: nodeRequest(req), ...bodyInput(req) })
}

const EVENT = Symbol.for('pocketsflow-webhooks.event')

/** Where the guard leaves the verified event for `@PocketsflowEvent()`. */
export function attachEvent(req: object, event: WebhookEvent): void {
  ;(req as { [EVENT]?: WebhookEvent })[EVENT] = event
}

export function verifiedEvent(req: object | undefined): WebhookEvent | undefined {
  return (req as { [EVENT]?: WebhookEvent } | undefined)?.[EVENT]
}
