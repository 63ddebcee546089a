// Express: Nest's JSON parser (body-parser) refuses a body whose Content-Type names a charset other
// than UTF-8 (`application/json; charset=latin1` → 415, `charset=utf-16` → 400) before any route
// runs, and a refused webhook delivery is lost. The signature covers the bytes, not their label, and
// JSON is UTF-8 (RFC 8259), so for a request that carries the sender's signature header the module
// drops that label before any parser sees the request: the parsers then read and keep the bytes as
// for any JSON delivery, and every middleware of the app runs as usual. It is what a sender that sent
// no charset would have got, so nothing is gained by sending the header unsigned.
// Fastify's parser ignores the charset: nothing to do there.
import type { Provider } from '@pocketsflow-webhooks/core'
import { signatureHeaderOf } from '@pocketsflow-webhooks/core/inbox'

/** What the module sees of Nest's `HttpAdapterHost`. */
export interface HttpAdapterHostLike {
  readonly httpAdapter?: HttpAdapterLike | undefined
  /** Emits once the adapter is set (Nest 11+): at once after `NestFactory.create`, later in a testing module. */
  readonly init$?: { subscribe(next: () => void): unknown } | undefined
}

interface HttpAdapterLike {
  getType?(): string
  getInstance?(): unknown
}

interface RequestLike {
  readonly headers: Record<string, string | string[] | undefined>
}

type Middleware = (req: RequestLike, res: unknown, next: () => void) => void

/** Per Express app: the signature headers of the module declarations that share it. */
const installed = new WeakMap<object, Set<string>>()

/** The Content-Type of a JSON body without its charset label, or `undefined` when it has none but UTF-8's. */
function withoutForeignCharset(contentType: string): string | undefined {
  const [mediaType = '', ...parameters] = contentType.split(';')
  if (!/^\s*application\/(?:[\w.+-]+\+)?json\s*$/i.test(mediaType)) return undefined
  const charset = parameters.find((parameter) => /^\s*charset\s*=/i.test(parameter))
  if (charset === undefined) return undefined
  const label = charset.slice(charset.indexOf('=') + 1).trim().replace(/^"(.*)"$/, '$1')
  if (label.toLowerCase() === 'utf-8') return undefined
  return [mediaType, ...parameters.filter((parameter) => parameter !== charset)].join(';')
}

/**
 * Mounts, once per Express app and ahead of every parser and middleware of the app, the middleware
 * that drops a foreign charset label from signed deliveries. Called from the module's constructor:
 * the adapter is set by then after `NestFactory.create`, and (Nest 11+ `init$`) as soon as a testing
 * module's `createNestApplication()` sets it; both are before `app.init()` mounts the parsers and
 * before `main.ts` mounts anything. Does nothing on other platforms, or without an HTTP adapter.
 */
export function acceptAnyCharset(host: HttpAdapterHostLike | undefined, provider: Provider | undefined): void {
  if (host === undefined) return
  // A delivery without it is refused by the core anyway.
  const header = signatureHeaderOf(provider ?? 'pocketsflow')
  const mount = () => mountOn(host.httpAdapter, header)
  if (host.init$ !== undefined) host.init$.subscribe(mount)
  else mount()
}

function mountOn(adapter: HttpAdapterLike | undefined, header: string): void {
  if (adapter?.getType?.() !== 'express') return
  const app = adapter.getInstance?.() as { use?: (middleware: Middleware) => unknown } | undefined
  if (app === undefined || app === null || typeof app.use !== 'function') return
  let headers = installed.get(app)
  if (headers === undefined) {
    const names = new Set<string>()
    headers = names
    installed.set(app, names)
    const pocketsflowWebhookCharset: Middleware = (req, _res, next) => {
      const contentType = req.headers['content-type']
      // The cheap test first: almost every request has no charset label to drop.
      if (typeof contentType === 'string' && contentType.includes(';')) {
        const relabelled = withoutForeignCharset(contentType)
        if (relabelled !== undefined && signedFor(names, req)) req.headers['content-type'] = relabelled
      }
      next()
    }
    app.use(pocketsflowWebhookCharset)
  }
  headers.add(header)
}

function signedFor(names: ReadonlySet<string>, req: RequestLike): boolean {
  for (const name of names) if (req.headers[name] !== undefined) return true
  return false
}
