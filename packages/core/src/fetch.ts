// The Fetch API glue (Request in, Response out) for web-standard runtimes: Bun, Deno, Cloudflare
// Workers, Vercel Edge, Node's own fetch servers, and the adapters built on Request (Next's App
// Router, Hono). Backend-free: the root entry (node:crypto) and /web (Web Crypto) each pass their
// own receiver in.
import { describeThrown } from './errors.js'
import type { ReceiverResult, WebhookReceiver } from './receiver.js'
import type { DeadLetter } from './inbox.js'
import type { Logger, WebhookResponse } from './types.js'

const BODY_USED =
  'the Request body was read before the webhook handler (request.json(), text(), formData() or arrayBuffer()), ' +
  'so its exact bytes are gone: pass the untouched Request to the handler, or a request.clone() made before reading it'

/** The host's `waitUntil` (Cloudflare's `ctx.waitUntil`, Vercel's `@vercel/functions`): keeps the instance alive until the promise settles. */
export type WaitUntil = (promise: Promise<unknown>) => void

/**
 * `createFetchHandler(options)`: every request it is given is a delivery (routing is the host's).
 * Same status codes and bodies as every adapter. On Cloudflare Workers pass
 * `{ waitUntil: ctx.waitUntil.bind(ctx) }`: without it the handlers never run there.
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
 * runtimes that may freeze the instance after the response, pass it, or the handlers never run),
 * otherwise started right after the response, which a long-running server (Node, Bun, Deno) lets
 * finish.
 */
export function fetchHandlerFor(receiver: WebhookReceiver, logger: Logger): FetchHandler {
  let warned = false
  const handle = async (request: Request, context?: { readonly waitUntil?: WaitUntil | undefined }): Promise<Response> => {
    if (!context?.waitUntil && !warned && onCloudflareWorkers()) {
      // Workers stop an isolate's work once its response is sent, unless it was handed to
      // waitUntil: there, an event acknowledged without one would never be handled.
      warned = true
      logger.warn({}, 'no waitUntil on Cloudflare Workers: handlers would not run after the response; pass { waitUntil: ctx.waitUntil.bind(ctx) } to the handler')
    }
    const host = holdHost(context?.waitUntil)
    const result = 'failed' in host ? refusedHold(receiver, host.failed) : await receiveFetchRequest(receiver, request)
    if (!('failed' in host)) host.release(result.after)
    return toResponse(result.response)
  }
  return Object.assign(handle, {
    receiver,
    close: (options?: { timeoutMs?: number }) => receiver.close(options),
    deadLetters: (options?: { limit?: number }) => receiver.deadLetters(options),
    replay: (id: string) => receiver.replay(id),
  })
}

/** The receiver's answer as a Fetch Response. */
export function toResponse({ status, headers, body }: WebhookResponse): Response {
  return new Response(body, { status, headers })
}

/** The host's hold on the instance, for the handlers' work after the response. */
export interface HostHold {
  /** Starts the work (if any) a macrotask after the response; the hold ends once it settles. */
  release(after: (() => Promise<void>) | undefined): void
}

/**
 * Takes the host's hold before the request is received: `waitUntil` gets a promise that settles
 * once the handlers' work has. So a `waitUntil` that throws (Cloudflare's `ctx.waitUntil` passed
 * unbound, or called outside its request) is found before anything is claimed, and answered as the
 * configuration error it is (`refusedHold`), not with a 200 for an event whose handlers would never
 * run. The work starts a macrotask after the response, so the host takes the response first and a
 * handler's synchronous start never delays it. For adapters built on Request (Hono) too.
 */
export function holdHost(waitUntil: WaitUntil | undefined): HostHold | { readonly failed: unknown } {
  if (!waitUntil) return { release: (after) => void (after && startAfterResponse(after)) }
  let release!: (work: Promise<void> | undefined) => void
  const held = new Promise<void>((resolve) => (release = resolve as (work: Promise<void> | undefined) => void))
  try {
    waitUntil(held)
  } catch (error) {
    return { failed: error }
  }
  return { release: (after) => release(after ? startAfterResponse(after) : undefined) }
}

/** The configuration error for a `waitUntil` that threw: nothing was read or claimed. */
export function refusedHold(receiver: WebhookReceiver, error: unknown): ReceiverResult {
  return receiver.reject(
    'configuration_error',
    `waitUntil threw (${describeThrown(error)}): pass the host's waitUntil bound to its context, ` +
      'e.g. { waitUntil: ctx.waitUntil.bind(ctx) }; the delivery was not received',
  )
}

function startAfterResponse(after: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, 0)).then(after)
}

/** The runtime says it is Cloudflare's (workerd sets this user agent). */
function onCloudflareWorkers(): boolean {
  return (globalThis as { navigator?: { userAgent?: unknown } }).navigator?.userAgent === 'Cloudflare-Workers'
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
