// Hono runs on the Fetch API everywhere (Workers, Bun, Deno, Node through @hono/node-server): the
// core's Fetch glue reads the Request; what is Hono's here is the context (`c.var`, `next()`) and
// when the handlers run (`c.executionCtx.waitUntil` where the host has one).
import {
  createWebhookReceiver,
  type AnyEventFor,
  type DeadLetter,
  type Provider,
  type WebhookReceiver,
  type SchemaMap,
  type WebhookReceiverOptions,
  type WebhookResponse,
} from '@pocketsflow-webhooks/core'
import { holdHost, receiveFetchRequest, refusedHold, resolveLogger, toResponse, type WaitUntil } from '@pocketsflow-webhooks/core/inbox'
import type { Context, MiddlewareHandler, Next } from 'hono'

/** A verified event as downstream code finds it on `c.var.pocketsflowEvent`; narrow it with `isEventType`. */
export type PocketsflowContextEvent = AnyEventFor<Provider>

/** The variables the middleware sets. `new Hono<PocketsflowWebhookEnv>()` or an intersection types them for an app. */
export interface PocketsflowWebhookVariables {
  /**
   * The event of a delivery accepted as new, set before the response. Absent for rejections and
   * for duplicates: like the handlers, code reading it sees each event once.
   */
  pocketsflowEvent?: PocketsflowContextEvent
}

export type PocketsflowWebhookEnv = { Variables: PocketsflowWebhookVariables }

declare module 'hono' {
  // Typed `c.var.pocketsflowEvent` in every handler, including middleware mounted around this one.
  interface ContextVariableMap {
    /** Set by `pocketsflowWebhook()` for a delivery accepted as new (see `PocketsflowWebhookVariables`). */
    pocketsflowEvent?: PocketsflowContextEvent
  }
}

export type PocketsflowWebhookOptions<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>> = WebhookReceiverOptions<P, S> & {
  /**
   * Call `next()` after a delivery accepted as new, so that the handlers mounted after this one see
   * `c.var.pocketsflowEvent` (default `false`: the webhook request ends here). Hono sends the
   * response once the chain has returned, so they delay the acknowledgement: keep them quick, and
   * do the work in `on` / `onEvent`, which run after the response. They can't change the answer,
   * and an error they throw goes to `app.onError` while the sender still gets the 200.
   */
  callNext?: boolean
}

/** A Hono handler (or middleware) with the receiver attached, for shutdown and inspection. */
export interface PocketsflowWebhookMiddleware extends MiddlewareHandler<PocketsflowWebhookEnv> {
  readonly receiver: WebhookReceiver
  /** Stops accepting deliveries (503) and waits for running handlers. */
  close(options?: { timeoutMs?: number }): Promise<void>
  deadLetters(options?: { limit?: number }): Promise<DeadLetter[]>
  /** Runs the failed handlers of a dead-lettered event again. */
  replay(id: string): Promise<boolean>
}

/**
 * `app.post('/webhooks/pocketsflow', pocketsflowWebhook({ secret, on }))`: every request routed to
 * it is a delivery (the route is Hono's; the `path` option is not consulted). Mount it with
 * `app.all(...)` to answer other methods with 405 instead of Hono's 404.
 * @example
 * ```ts
 * app.post('/webhooks/pocketsflow', pocketsflowWebhook({
 *   secret: process.env.POCKETSFLOW_WEBHOOK_SECRET,
 *   on: { 'order.completed': async (event) => grantAccess(event.data.customer.email) },
 * }))
 * ```
 */
export function pocketsflowWebhook<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>>(options: PocketsflowWebhookOptions<P, S>): PocketsflowWebhookMiddleware {
  const receiver = createWebhookReceiver(options)
  const logger = resolveLogger(options.logger)
  const callNext = options.callNext === true

  const middleware = async (c: Context<PocketsflowWebhookEnv>, next: Next): Promise<Response | void> => {
    // The host's hold for the handlers first (Workers' waitUntil): one that throws is answered as
    // the configuration error before anything is claimed.
    const host = holdHost(waitUntilOf(c))
    if ('failed' in host) return toResponse(refusedHold(receiver, host.failed).response)
    // The untouched Request: its exact bytes. If a validator or `c.req.json()` read it first, the
    // core answers its configuration error, which says so.
    const result = await receiveFetchRequest(receiver, c.req.raw)
    const response = toResponse(result.response)
    if (!result.after) {
      host.release(undefined)
      return response
    }
    c.set('pocketsflowEvent', result.event as PocketsflowContextEvent)
    if (!callNext) {
      host.release(result.after)
      return response
    }
    c.res = response
    const answer = c.res
    try {
      await next()
    } catch (error) {
      // Hono hands only Error instances to app.onError; anything else thrown after this one would
      // make the authentic delivery a 500. It is logged, and the sender gets its 200.
      logger.error({ err: error }, 'a handler after pocketsflowWebhook() threw; the delivery is acknowledged all the same')
    } finally {
      // Whatever the handlers after this one answered (or Hono's 404 when none did), the sender gets
      // the acknowledgement, and the authentic event is processed.
      if (c.res !== answer) {
        const theirs = c.res
        c.res = undefined
        c.res = restored(result.response, theirs)
      }
      host.release(result.after)
    }
  }

  return Object.assign(middleware, {
    receiver,
    close: (o?: { timeoutMs?: number }) => receiver.close(o),
    deadLetters: (o?: { limit?: number }) => receiver.deadLetters(o),
    replay: (id: string) => receiver.replay(id),
  })
}

/**
 * The acknowledgement again, after handlers that answered something else: its status, body and the
 * core's headers, over the headers they added (`X-Request-Id`, a cookie), as the Koa adapter keeps
 * them. Set through `c.res = undefined` first so that Hono does not merge theirs over the core's.
 */
function restored(answer: WebhookResponse, theirs: Response): Response {
  const headers = new Headers(theirs.headers)
  for (const name of ['content-length', 'content-encoding', 'transfer-encoding']) headers.delete(name)
  for (const name in answer.headers) headers.set(name, answer.headers[name] as string)
  return new Response(answer.body, { status: answer.status, headers })
}

/** The host's `waitUntil` (Cloudflare Workers, and hosts that give Hono an ExecutionContext), if any. */
function waitUntilOf(c: Context): WaitUntil | undefined {
  try {
    // A getter that throws where there is none (Node with @hono/node-server, Bun, Deno).
    const ctx = c.executionCtx
    return (promise) => ctx.waitUntil(promise)
  } catch {
    return undefined
  }
}

// The whole core (types, isEventType, MemoryDedupeStore, signWebhook, …): users of this adapter
// need no second dependency for them.
export * from '@pocketsflow-webhooks/core'
