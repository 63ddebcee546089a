// The Fetch API glue (Request in, Response out) for web-standard runtimes: Bun, Deno, Cloudflare
// Workers, Vercel Edge, Node's own fetch servers, and the adapters built on Request (Next's App
// Router, Hono). Backend-free: the root entry (node:crypto) and /web (Web Crypto) each pass their
// own receiver in.
import type { ReceiverResult, WebhookReceiver } from './receiver.js'
import type { DeadLetter } from './inbox.js'

const BODY_USED =
  'the Request body was read before the webhook handler (request.json(), text(), formData() or arrayBuffer()), ' +
  'so its exact bytes are gone: pass the untouched Request to the handler, or a request.clone() made before reading it'

/** The host's `waitUntil` (Cloudflare's `ctx.waitUntil`, Vercel's `@vercel/functions`): keeps the instance alive until the promise settles. */
export type WaitUntil = (promise: Promise<unknown>) => void

/**
 * `createFetchHandler(options)`: every request it is given is a delivery (routing is the host's).
 * Same status codes and bodies as every adapter.
 */
export interface FetchHandler {
  (request: Request, context?: { readonly waitUntil?: WaitUntil | undefined }): Promise<Response>
  readonly receiver: WebhookReceiver
  /** Stops accepting deliveries (503) and waits for running handlers. */
  close(options?: { timeoutMs?: number }): Promise<void>
  deadLetters(options?: { limit?: number }): Promise<DeadLetter[]>
  replay(id: string): Promise<boolean>
}

/**
 * Wraps a receiver as a `(request, { waitUntil }?) => Promise<Response>`. The handlers run once the
 * response has been handed back: through `waitUntil` when the host gives one (on Workers and other
 * runtimes that may freeze the instance after the response, pass it, or the handlers may never
 * finish), otherwise started right after the response, which a long-running server (Node, Bun,
 * Deno) lets finish.
 */
export function fetchHandlerFor(receiver: WebhookReceiver): FetchHandler {
  const handle = async (request: Request, context?: { readonly waitUntil?: WaitUntil | undefined }): Promise<Response> => {
    const result = await receiveFetchRequest(receiver, request)
    if (result.after) runAfterResponse(result.after, context?.waitUntil)
    const { status, headers, body } = result.response
    return new Response(body, { status, headers })
  }
  return Object.assign(handle, {
    receiver,
    close: (options?: { timeoutMs?: number }) => receiver.close(options),
    deadLetters: (options?: { limit?: number }) => receiver.deadLetters(options),
    replay: (id: string) => receiver.replay(id),
  })
}

/**
 * Starts the handlers' work once the response has been handed back: a macrotask later, so the host
 * takes the response first and a handler's synchronous start never delays it. Given to `waitUntil`
 * when there is one, so the host keeps the instance alive until it settles; if `waitUntil` throws,
 * the work runs all the same (the event is acknowledged). For adapters built on Request (Hono).
 */
export function runAfterResponse(after: () => Promise<void>, waitUntil: WaitUntil | undefined): void {
  const work = new Promise<void>((resolve) => setTimeout(resolve, 0)).then(after)
  if (!waitUntil) return
  try {
    waitUntil(work)
  } catch {
    // Not this host's waitUntil (or called outside a request): the work runs all the same.
  }
}

/**
 * Reads a Request's exact body bytes (at most the receiver's `bodyLimit`, whatever Content-Length
 * says) and runs the receiver. Never throws. For adapters built on Request that send the answer
 * their own way (Next's App Router, Hono).
 */
export async function receiveFetchRequest(receiver: WebhookReceiver, request: Request): Promise<ReceiverResult> {
  const { method, headers } = request
  const checked = receiver.precheck({ method, headers })
  if (checked.rejected) return checked.rejected
  // Read, or locked by a reader someone took: either way its exact bytes are not ours to have.
  if (request.bodyUsed || request.body?.locked) return receiver.reject('configuration_error', BODY_USED)
  const body = await readBody(request, receiver.bodyLimit)
  if (body === TOO_LARGE) return receiver.reject('body_too_large')
  if (body === UNREADABLE) return receiver.reject('body_unreadable')
  return receiver.handleNow({ method, headers, body, checked })
}

const TOO_LARGE = Symbol('too large')
const UNREADABLE = Symbol('unreadable')

/**
 * The exact body bytes, at most `limit` of them, streamed: a declared length over the limit is
 * refused unread, and a lying or absent Content-Length can't make us buffer more than the limit.
 */
async function readBody(request: Request, limit: number): Promise<Uint8Array | typeof TOO_LARGE | typeof UNREADABLE> {
  const declared = request.headers.get('content-length')
  const length = declared !== null && /^\d{1,16}$/.test(declared) ? Number(declared) : undefined
  if (length !== undefined && length > limit) return TOO_LARGE
  const stream = request.body
  if (stream === null) return new Uint8Array(0)
  try {
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
