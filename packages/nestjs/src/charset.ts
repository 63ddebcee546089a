// Express: Nest's JSON parser (body-parser) refuses a body whose Content-Type names a charset other
// than UTF-8 (`application/json; charset=latin1` → 415, `charset=utf-16` → 400) before any route
// runs. The signature covers the bytes, not their label, so for a request that carries the
// sender's signature header the module turns that refusal back into "not parsed": the webhook
// route (or the guard) then uses the bytes the parser kept in req.rawBody, or reads the stream
// itself when the parser refused without reading it. Any other request gets the parser's answer,
// as before. Fastify's parser ignores the charset, so nothing is needed there.
import type { Provider } from '@pocketsflow-webhooks/core'

/** The header each scheme signs with; a delivery without it is refused by the core anyway. */
const SIGNATURE_HEADERS: Readonly<Record<Provider, string>> = {
  pocketsflow: 'x-pocketsflow-signature',
  pocketbook: 'x-webhook-signature',
  'standard-webhooks': 'webhook-signature',
}

/** What the module sees of Nest's HTTP adapter (`HttpAdapterHost.httpAdapter`). */
export interface HttpAdapterLike {
  getType?(): string
  getInstance?(): unknown
}

interface ExpressAppLike {
  use(handler: ErrorMiddleware): unknown
}

interface RequestLike {
  readonly headers: Record<string, string | string[] | undefined>
  readonly readableEnded?: boolean
  body?: unknown
  /** body-parser 1's "read" marker, which it also sets on a request it refuses unread. */
  _body?: boolean
}

type ErrorMiddleware = (error: unknown, req: RequestLike, res: unknown, next: (error?: unknown) => void) => void

/** Per Express app: the signature headers of the module declarations that share it. */
const installed = new WeakMap<object, Set<string>>()

const RECOVERED = Symbol.for('pocketsflow-webhooks.unparsed-charset')

/** The charset a Content-Type names, lower-cased, or undefined when it names none. */
function charsetOf(contentType: string | string[] | undefined): string | undefined {
  if (typeof contentType !== 'string') return undefined
  const match = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(contentType)
  const charset = match?.[1] ?? match?.[2]
  return charset === undefined ? undefined : charset.trim().toLowerCase()
}

/** A body-parser error caused by the charset label rather than by the bytes. */
function isCharsetRefusal(error: unknown, req: RequestLike): boolean {
  if (error === null || typeof error !== 'object') return false
  const type = (error as { type?: unknown }).type
  // Refused on the label alone, before the stream was read (body-parser 1 and 2 alike).
  if (type === 'charset.unsupported') return true
  // Read (into req.rawBody, with rawBody: true), then decoded with the label's charset (utf-16, …)
  // into text that is no longer the JSON that was sent.
  if (type === 'entity.parse.failed') {
    const charset = charsetOf(req.headers['content-type'])
    return charset !== undefined && charset !== 'utf-8'
  }
  return false
}

/**
 * Installs, once per Express app, the error middleware that lets signed deliveries through a
 * charset refusal of the body parsers mounted before it. Called from the module's `configure()`,
 * which Nest runs in `app.init()` after the body parsers and before any route or module middleware
 * is mounted. Does nothing on other platforms.
 */
export function acceptAnyCharset(adapter: HttpAdapterLike | undefined, provider: Provider | undefined): void {
  if (adapter?.getType?.() !== 'express') return
  const app = adapter.getInstance?.() as ExpressAppLike | undefined
  if (app === undefined || app === null || typeof app.use !== 'function') return
  const header = SIGNATURE_HEADERS[provider ?? 'pocketsflow']
  if (header === undefined) return
  let headers = installed.get(app)
  if (headers === undefined) {
    const names = new Set<string>()
    headers = names
    installed.set(app, names)
    // Four parameters: Express calls it only with an error, which it may clear with next().
    const pocketsflowWebhookCharset: ErrorMiddleware = (error, req, _res, next) => {
      let signed = false
      for (const name of names) if (req.headers[name] !== undefined) signed = true
      if (!signed || !isCharsetRefusal(error, req)) {
        next(error)
        return
      }
      ;(req as { [RECOVERED]?: true })[RECOVERED] = true
      // body-parser 1 (Express 4, NestJS 10) marks the request read before it refuses an unknown
      // utf-* charset without reading it; the stream is still whole, so the route may read it.
      if (req._body === true && req.readableEnded === false) req._body = false
      next()
    }
    app.use(pocketsflowWebhookCharset)
  }
  headers.add(header)
}

/** Whether the parser refused this request's charset and the module let it through unparsed. */
export function parsedByNobody(req: object): boolean {
  return (req as { [RECOVERED]?: true })[RECOVERED] === true
}
