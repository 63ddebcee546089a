import {
  createWebhookReceiver,
  type AnyEventFor,
  type Provider,
  type ReceiverResult,
  type WebhookReceiver,
  type WebhookReceiverOptions,
} from '@pocketsflow-webhooks/core'
import { afterResponse, receiveNodeRequest, shouldCloseConnection } from '@pocketsflow-webhooks/core/node'
import type { IncomingMessage, ServerResponse } from 'node:http'
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

export type PocketsflowWebhookOptions<P extends Provider = 'pocketsflow'> = WebhookReceiverOptions<P> & {
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
  'or use a body parser that keeps the raw body in ctx.request.rawBody'

/**
 * `app.use(pocketsflowWebhook({ secret, on }))`: answers requests on its path (default
 * `/webhooks/pocketsflow`, matched against `ctx.url`) and passes every other request on.
 */
export function pocketsflowWebhook<P extends Provider = 'pocketsflow'>(options: PocketsflowWebhookOptions<P>): PocketsflowWebhookMiddleware {
  const receiver = createWebhookReceiver(options)
  const callNext = options.callNext === true

  async function receive(ctx: KoaContextLike, next: () => Promise<unknown>): Promise<void> {
    const result = await receiveNodeRequest(receiver, { req: ctx.req, rawBody: keptRawBody(ctx.request), mountAdvice: MOUNT_ADVICE })
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

/**
 * The raw body a parser mounted earlier kept (koa-bodyparser and @koa/bodyparser keep it as a
 * UTF-8 string in `ctx.request.rawBody`): re-encoding it gives back the signed bytes of any UTF-8 JSON body.
 */
function keptRawBody(request: object): string | Uint8Array | undefined {
  const raw = (request as { rawBody?: unknown }).rawBody
  return typeof raw === 'string' || raw instanceof Uint8Array ? raw : undefined
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
