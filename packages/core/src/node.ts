// Node.js http glue shared by the adapters that sit on IncomingMessage/ServerResponse (Express,
// Koa, Next.js Pages Router, NestJS on Express): reading the raw bytes, sending the answer, and
// running the handlers once the answer is out. Framework specifics stay in the adapters.
import type { IncomingMessage, ServerResponse } from 'node:http'
import getRawBody from 'raw-body'
import type { ReceiverResult, WebhookReceiver, WebhookRequest } from './receiver.js'
import type { Body } from './types.js'

export interface NodeRequestInput {
  readonly req: IncomingMessage
  /** Raw bytes that a body parser mounted earlier kept (e.g. `req.rawBody` from a `verify` hook). */
  readonly rawBody?: Body | undefined
  /** The adapter knows a body parser already consumed the stream (e.g. Express's `req._body`). */
  readonly consumed?: boolean
  /** How to mount the adapter correctly: ends the configuration error when the body is gone. */
  readonly mountAdvice?: string
  /** Why `rawBody` may not be the bytes that were signed, when the adapter rebuilt it (see `WebhookRequest`). */
  readonly mismatchHint?: string | undefined
}

/**
 * One call for an adapter on Node's http: reads the raw body, answers with the receiver's response,
 * and runs the handlers once it is sent (or as `schedule` says). Never rejects.
 */
export async function handleNodeRequest(receiver: WebhookReceiver, req: IncomingMessage, res: ServerResponse, input: NodeHandleInput = {}): Promise<void> {
  const result = await receiveNodeRequest(receiver, { ...input, req })
  const schedule = input.schedule
  if (!result.after || !schedule) return sendNodeResponse(req, res, result)
  const responded = new Promise<void>((resolve) => {
    if (res.writableFinished || res.destroyed) resolve()
    else res.once('close', () => resolve())
  })
  const runFirst = schedule(result.after, responded)
  if (runFirst) await runFirst
  sendNodeResponse(req, res, { response: result.response, event: result.event })
}

export interface NodeHandleInput extends Omit<NodeRequestInput, 'req'> {
  /**
   * How the handlers' work runs, when not simply once the response is sent (Next's Pages Router:
   * before it, or handed to a host's `waitUntil`). Returns a promise to wait for before answering,
   * or nothing. `responded` settles once the response is sent or the client went away.
   */
  readonly schedule?: ((after: () => Promise<void>, responded: Promise<void>) => Promise<void> | undefined) | undefined
}

/**
 * Reads the raw body (capped at the receiver's `bodyLimit`) and runs the receiver. Never throws.
 * When another parser already consumed the stream without keeping the bytes, the answer is a
 * configuration error (500) that says how to mount the adapter: never a silent 401, never a hang,
 * never a re-serialized body.
 */
export async function receiveNodeRequest(receiver: WebhookReceiver, input: NodeRequestInput): Promise<ReceiverResult> {
  const read = await readNodeRequest(receiver, input)
  return read.answer ?? receiver.handleNow(read.request)
}

/** `receiveNodeRequest()` for a guard: verification alone (`receiver.verify()`), nothing claimed, no handlers. */
export async function verifyNodeRequest(receiver: WebhookReceiver, input: NodeRequestInput): Promise<ReceiverResult> {
  const read = await readNodeRequest(receiver, input)
  return read.answer ?? receiver.verify(read.request)
}

/**
 * The request for the receiver, its headers checked before a byte of the body is read; or the
 * answer, when the headers condemn it or its body can't be had.
 */
async function readNodeRequest(
  receiver: WebhookReceiver,
  input: NodeRequestInput,
): Promise<{ readonly request: WebhookRequest; readonly answer?: undefined } | { readonly answer: ReceiverResult }> {
  const { req } = input
  const checked = receiver.precheck({ method: req.method, headers: req.headers })
  if (checked.rejected) return { answer: checked.rejected }
  const read = await readNodeBody(receiver, input)
  if (read.answer) return read
  return { request: { method: req.method, headers: req.headers, body: read.body, checked, mismatchHint: input.mismatchHint } }
}

/** The body: kept by a parser, or read from the stream; or the answer when it can't be had. */
type ReadBody = { readonly body: Body; readonly answer?: undefined } | { readonly answer: ReceiverResult }

async function readNodeBody(receiver: WebhookReceiver, input: NodeRequestInput): Promise<ReadBody> {
  const { req } = input
  // Whatever a parser kept goes to the receiver as it is: bytes are verified, anything else is its 400.
  if (input.rawBody !== undefined && input.rawBody !== null) return { body: input.rawBody }
  const advice = input.mountAdvice ?? 'run the webhook handler before any body parser, or keep the raw body bytes and pass them as rawBody'
  if (input.consumed || req.readableEnded) {
    return {
      answer: receiver.reject(
        'configuration_error',
        `the request body was read by another body parser before the webhook handler, and its raw bytes were not kept: ${advice}`,
      ),
    }
  }
  try {
    return { body: await getRawBody(req, { limit: receiver.bodyLimit, length: req.headers['content-length'] }) }
  } catch (error) {
    const type = (error as { type?: string }).type
    if (type === 'entity.too.large') return { answer: receiver.reject('body_too_large') }
    // setEncoding() on the request is a mounting mistake; a stream that is merely not readable
    // any more (the client hung up before we started reading) is the sender's doing.
    if (type === 'stream.encoding.set') {
      return { answer: receiver.reject('configuration_error', `the request stream was decoded by other middleware: ${advice}`) }
    }
    return { answer: receiver.reject('body_unreadable') }
  }
}

/**
 * Runs `result.after` once the response has been sent, or the client went away first: either way
 * exactly once, and never before the response is on the wire.
 */
export function afterResponse(res: ServerResponse, result: ReceiverResult): void {
  const after = result.after
  if (!after) return
  if (res.writableFinished || res.destroyed) void after()
  else res.once('close', () => void after())
}

/**
 * Whether to answer with `Connection: close`: a request whose body was not read (rejected from its
 * headers, or too large) would otherwise have to be drained to keep the connection alive, and
 * closing is cheaper and safer. HTTP/2 forbids connection-specific headers: there the stream just ends.
 */
export function shouldCloseConnection(req: IncomingMessage): boolean {
  return !req.complete && req.httpVersionMajor === 1
}

/** Writes the receiver's answer on a Node response and schedules the handlers after it. */
export function sendNodeResponse(req: IncomingMessage, res: ServerResponse, result: ReceiverResult): void {
  afterResponse(res, result)
  if (res.headersSent) {
    res.end()
    return
  }
  const { status, headers, body } = result.response
  res.statusCode = status
  for (const name in headers) res.setHeader(name, headers[name] as string)
  if (shouldCloseConnection(req)) res.setHeader('connection', 'close')
  res.end(body)
}
