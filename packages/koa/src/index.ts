import {
  createWebhookReceiver,
  type AnyEventFor,
  type Provider,
  type ReceiverResult,
  type WebhookReceiver,
  type SchemaMap,
  type WebhookReceiverOptions,
} from '@pocketsflow-webhooks/core'
import { afterResponse, receiveNodeRequest, shouldCloseConnection } from '@pocketsflow-webhooks/core/node'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
// Types only: lets the `DefaultState` augmentation below find Koa's declarations.
import type {} from 'koa'

/** A verified event as downstream code finds it on `ctx.state`; narrow it with `isEventType`. */
export type PocketsflowStateEvent = AnyEventFor<Provider>

/** What the middleware puts on `ctx.state`. `new Koa<PocketsflowWebhookState>()` types it for a custom state. */
export interface PocketsflowWebhookState {
  /**
   * The event of a delivery accepted as new, set before the response is sent. Absent for
   * rejections and for duplicates: like the handlers, code reading it sees each event once.
   */
  pocketsflowEvent?: PocketsflowStateEvent
}

declare module 'koa' {
  // Typed `ctx.state.pocketsflowEvent` for apps on Koa's default state.
  interface DefaultState {
    /** Set by `pocketsflowWebhook()` for a delivery accepted as new (see `PocketsflowWebhookState`). */
    pocketsflowEvent?: PocketsflowStateEvent
  }
}

export type PocketsflowWebhookOptions<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>> = WebhookReceiverOptions<P, S> & {
  /**
   * Call `next()` after a delivery accepted as new, so that middleware mounted after this one sees
   * `ctx.state.pocketsflowEvent` (default `false`: the webhook request ends here). Koa sends the
   * response only once that middleware has returned, so it delays the acknowledgement: keep it
   * quick, and do the work in `on` / `onEvent`, which run after the response. It can't change the
   * answer, and an error it throws is reported on `app.on('error')` instead of turning the
   * acknowledgement into a 500. Body parsers after it skip the request (`ctx.disableBodyParser`).
   */
  callNext?: boolean
}

/**
 * The part of a Koa context the middleware uses: satisfied by Koa 2 and Koa 3 contexts whatever
 * their state and context types, so the middleware's type does not hinge on a `@types/koa` version.
 */
export interface KoaContextLike {
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly url: string
  readonly request: object
  readonly app: { emit(event: string | symbol, ...args: any[]): boolean }
  state: object
  status: number
  body: unknown
  set(field: string, value: string): void
}

/** Koa middleware (2 and 3) with the receiver attached, for shutdown and inspection. */
export interface PocketsflowWebhookMiddleware {
  (ctx: KoaContextLike, next: () => Promise<unknown>): Promise<unknown>
  readonly receiver: WebhookReceiver
  /** Stops accepting deliveries (503) and waits for running handlers. */
  close(options?: { timeoutMs?: number }): Promise<void>
}

const MOUNT_ADVICE =
  'mount app.use(pocketsflowWebhook(...)) before bodyParser() (@koa/bodyparser, koa-bodyparser, koa-body), ' +
  'or have the parser keep the raw body in ctx.request.rawBody (koa-body: includeUnparsed: true)'

const MOUNT_FIRST_ADVICE =
  'mount app.use(pocketsflowWebhook(...)) before bodyParser() (@koa/bodyparser, koa-bodyparser, koa-body): it answers ' +
  'its own path without calling next(), so the parser never decodes a webhook request and the signed bytes are verified as sent'

/**
 * `app.use(pocketsflowWebhook({ secret, on }))`: answers requests on its path (default
 * `/webhooks/pocketsflow`, matched against `ctx.url`) and passes every other request on.
 * @example
 * ```ts
 * app.use(pocketsflowWebhook({
 *   secret: process.env.POCKETSFLOW_WEBHOOK_SECRET,
 *   on: { 'order.completed': async (event) => grantAccess(event.data.customer.email) },
 * })) // before bodyParser()
 * ```
 */
export function pocketsflowWebhook<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>>(options: PocketsflowWebhookOptions<P, S>): PocketsflowWebhookMiddleware {
  const receiver = createWebhookReceiver(options)
  const callNext = options.callNext === true

  async function receive(ctx: KoaContextLike, next: () => Promise<unknown>): Promise<void> {
    const kept = keptBody(ctx)
    const result = await (kept instanceof Unverifiable
      ? refuse(receiver, ctx.req, kept)
      : kept instanceof Rebuilt
        ? receiveRebuilt(receiver, ctx.req, kept)
        : receiveNodeRequest(receiver, { req: ctx.req, rawBody: kept, mountAdvice: MOUNT_ADVICE }))
    respond(ctx, result)
    if (!result.after) return
    ;(ctx.state as PocketsflowWebhookState).pocketsflowEvent = result.event as PocketsflowStateEvent
    // Koa writes the response once the whole chain has settled; the handlers wait for that.
    afterResponse(ctx.res, result)
    if (!callNext) return
    // The stream has been read: a body parser mounted after this would fail on it.
    ;(ctx as { disableBodyParser?: boolean }).disableBodyParser = true
    try {
      await next()
    } catch (error) {
      // The event is authentic and its handlers will run: the sender must still see the 200.
      ctx.app.emit('error', error, ctx)
    }
    respond(ctx, result)
  }

  const middleware = (ctx: KoaContextLike, next: () => Promise<unknown>): Promise<unknown> =>
    receiver.matchesPath(ctx.url) ? receive(ctx, next) : next()
  return Object.assign(middleware, { receiver, close: receiver.close })
}

/** Where koa-body up to version 6 keeps the raw text (`includeUnparsed: true`): on the parsed body. */
const UNPARSED_BODY = Symbol.for('unparsedBody')
const BOM = Buffer.from([0xef, 0xbb, 0xbf])
const REPLACEMENT_CHARACTER = Buffer.from([0xef, 0xbf, 0xbd])

/** A body that a parser mounted earlier kept only as text that can't be turned back into the bytes as sent. */
class Unverifiable {
  constructor(
    readonly why: string,
    /** The body's size as sent, or as near as the text tells: held to `bodyLimit` as any body. */
    readonly size: number,
  ) {}
}

/**
 * Bytes rebuilt from a parser's text that other bytes could have decoded to as well: verified like
 * any body; when they do not match, `why` says how an authentic delivery may be behind the
 * mismatch, in the log's hint.
 */
class Rebuilt {
  constructor(
    readonly bytes: Uint8Array,
    readonly why: string,
  ) {}
}

/**
 * What a body parser mounted earlier kept of the request body: the bytes to verify (as sent, or as
 * rebuilt from its text), or why they can't be had from what it kept, or `undefined` when it kept
 * nothing (the stream is then read here, or, consumed, answered as a configuration error).
 *
 * koa-bodyparser, @koa/bodyparser and koa-body (with `includeUnparsed`) keep the text that co-body
 * decoded: raw-body through iconv-lite's UTF-8 decoder, whatever the Content-Type's charset (their
 * `encoding` option aside). Bytes kept as a Uint8Array are taken as they are.
 */
function keptBody(ctx: KoaContextLike): Uint8Array | Rebuilt | Unverifiable | undefined {
  const request = ctx.request as { rawBody?: unknown; body?: unknown }
  let raw = request.rawBody ?? (ctx.req as { rawBody?: unknown }).rawBody
  if (raw === undefined && typeof request.body === 'object' && request.body !== null) {
    raw = (request.body as { [UNPARSED_BODY]?: unknown })[UNPARSED_BODY]
  }
  if (typeof raw === 'string') return bytesOfDecodedText(raw, ctx.req.headers)
  return raw instanceof Uint8Array ? raw : undefined
}

/**
 * The bytes to verify behind a UTF-8 decoder's text. iconv-lite's decoder changes valid UTF-8 in
 * one way only: it drops a leading byte order mark (EF BB BF). Bytes that are not UTF-8 become
 * U+FFFD, which is also a character that can be sent as such. The candidate is the text's UTF-8
 * encoding, with the mark put back when the Content-Length (which the parser holds the body to) is
 * 3 bytes more: one candidate is verified, never both, so a mark added to or removed from signed
 * bytes is refused as it is without a parser. Without a Content-Length (a chunked upload) the
 * candidate is the encoding without a mark.
 *
 * Text without U+FFFD, with a Content-Length, came from exactly that candidate. Text with U+FFFD,
 * or without a length, may have come from other bytes too, and verifying the candidate is still
 * safe: it is a function of the decoded text alone (and the length rule), so if it verifies, the
 * sender signed exactly those bytes. The handler then gets exactly the content the sender signed,
 * and the event id (for Pocketsflow a hash of the bytes verified, which are the candidate, not the
 * bytes on the wire) is that of the signed delivery: other wire bytes that decode to the same text
 * are a duplicate of it, never a new event (with `dedupe: false`, a replay like any re-sent signed
 * bytes), and are held to the timestamp tolerance anyway. Nothing the sender did not sign reaches a
 * handler.
 *
 * Lost for good, and refused with a hint: a signed body with bytes that are not UTF-8 (re-encoded
 * as EF BF BD they are other bytes: up front when that changes the length, after the mismatch
 * otherwise), a chunked one whose signed bytes started with a mark, and a compressed one.
 */
function bytesOfDecodedText(text: string, headers: IncomingHttpHeaders): Uint8Array | Rebuilt | Unverifiable {
  // Buffer encodes an unpaired surrogate as EF BF BD too (no UTF-8 decoder's text holds one): the
  // candidate is then verified like any other.
  const bytes = Buffer.from(text, 'utf8')
  const declared = headers['content-length']
  const length = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : undefined
  const lost = (why: string) => new Unverifiable(why, length ?? bytes.length)
  const coding = headers['content-encoding']
  if (coding !== undefined && coding !== 'identity') {
    return lost(`the body parser inflated a "Content-Encoding: ${coding}" body, and the bytes as sent can't be rebuilt from its text`)
  }
  const replaced = bytes.includes(REPLACEMENT_CHARACTER)
  const charset = declaredCharset(headers['content-type'])
  const ignored = charset && !/^utf-?8$/i.test(charset) ? ` (the request declared charset=${charset}, which the parser ignores)` : ''
  const notUtf8 = `the signed bytes held bytes that are not UTF-8, which the body parser decoded as U+FFFD${ignored} and which can't be rebuilt from its text`
  if (length === undefined) {
    const chunked = "the signed bytes started with a byte order mark (EF BB BF), which the body parser removed, and without a Content-Length (a chunked upload) that can't be told from its text"
    return new Rebuilt(bytes, replaced ? `${notUtf8}, or ${chunked}` : chunked)
  }
  const candidate = length === bytes.length ? bytes : length === bytes.length + BOM.length ? Buffer.concat([BOM, bytes]) : undefined
  if (candidate !== undefined) return replaced ? new Rebuilt(candidate, notUtf8) : candidate
  if (replaced) {
    return lost(
      `the body parser decoded the body as UTF-8${ignored}, and its text holds U+FFFD, which stands for any bytes that are not UTF-8 as well as for itself; re-encoded, the text is ${bytes.length} bytes but the request carried ${length}, so the bytes that were signed can't be rebuilt from it`,
    )
  }
  return lost(`the body parser's text is ${bytes.length} bytes in UTF-8 but the request carried ${length}: the parser did not decode it as UTF-8 (its "encoding" option?)`)
}

function declaredCharset(contentType: string | undefined): string | undefined {
  return contentType === undefined ? undefined : /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1]
}

/**
 * What the headers alone decide (wrong method, shutdown, missing signature, stale timestamp), then
 * the size, as the core answers them: for a body a parser kept only as text.
 */
function precheckKept(receiver: WebhookReceiver, req: IncomingMessage, size: number): ReceiverResult | undefined {
  const checked = receiver.precheck({ method: req.method, headers: req.headers })
  if (checked.rejected) return checked.rejected
  return size > receiver.bodyLimit ? receiver.reject('body_too_large') : undefined
}

/** A delivery whose signed bytes a body parser lost: 401 like any body that does not verify, with the reason and the fix in the log. */
function refuse(receiver: WebhookReceiver, req: IncomingMessage, kept: Unverifiable): ReceiverResult {
  return precheckKept(receiver, req, kept.size) ?? cantVerify(receiver, kept.why)
}

function cantVerify(receiver: WebhookReceiver, why: string): ReceiverResult {
  return receiver.reject('signature_mismatch', `behind a body parser, this delivery can't be verified: ${why}; ${MOUNT_FIRST_ADVICE}`)
}

/**
 * Bytes rebuilt from a parser's text that other bytes decode to as well: the receiver verifies
 * them like any body; when they do not match, its log's hint says how an authentic delivery may
 * be behind the mismatch, and the fix.
 */
function receiveRebuilt(receiver: WebhookReceiver, req: IncomingMessage, kept: Rebuilt): Promise<ReceiverResult> {
  const mismatchHint =
    `behind a body parser, this delivery can't be verified: the bytes rebuilt from the body parser's text do not match ` +
    `the signature: the body was altered, or ${kept.why}; ${MOUNT_FIRST_ADVICE}`
  return receiveNodeRequest(receiver, { req, rawBody: kept.bytes, mountAdvice: MOUNT_ADVICE, mismatchHint })
}

/** Hands the core's answer to Koa, which sends it once the middleware chain has settled. */
function respond(ctx: KoaContextLike, result: ReceiverResult): void {
  const { status, headers, body } = result.response
  ctx.status = status
  // Before the body: Koa would otherwise make a string body text/plain.
  for (const name in headers) ctx.set(name, headers[name] as string)
  if (shouldCloseConnection(ctx.req)) ctx.set('connection', 'close')
  ctx.body = body
}

// The whole core (types, isEventType, MemoryDedupeStore, signWebhook, …): users of this adapter
// need no second dependency for them.
export * from '@pocketsflow-webhooks/core'
