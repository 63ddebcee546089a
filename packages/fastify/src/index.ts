import {
  createWebhookReceiver,
  normaliseWebhookPath,
  type AnyEventFor,
  type CheckedHeaders,
  type Provider,
  type ReceiverResult,
  type RejectionReason,
  type WebhookReceiver,
  type WebhookReceiverOptions,
} from '@pocketsflow-webhooks/core'
import { afterResponse, shouldCloseConnection } from '@pocketsflow-webhooks/core/node'
import type { FastifyError, FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

/** The verified event as hooks find it on `request.pocketsflowEvent`; narrow it with `isEventType`. */
export type PocketsflowRequestEvent = AnyEventFor<Provider>

/**
 * What `app.pocketsflowWebhook` holds once the plugin is registered: the receivers of every
 * registration in that context (one per `app.register(pocketsflowWebhook, …)`), in registration order.
 */
export interface PocketsflowWebhookDecorator {
  /**
   * The receiver behind the route (`receiver.path`, `deadLetters()`, `replay()`, `stats()`), when
   * the plugin is registered once in this context. With several registrations it throws, naming
   * their paths: use `receiverAt(path)` or `receivers` instead, so that code written for one
   * webhook never silently acts on another's.
   */
  readonly receiver: WebhookReceiver
  /** The receiver of every registration in this context, in registration order. */
  readonly receivers: readonly WebhookReceiver[]
  /**
   * The receiver registered with this `path` in this context: the path as given in the options
   * (as `receiver.path` reports it, a trailing slash ignored), without the context's prefix.
   * Throws, naming the registered paths, if there is none.
   */
  receiverAt(path: string): WebhookReceiver
  /**
   * Stops accepting deliveries (503) on every route of this context and waits for their running
   * handlers; `timeoutMs` bounds the wait. `app.close()` calls it for you (each registration with
   * its own `closeTimeoutMs`).
   */
  close(options?: { timeoutMs?: number }): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Added by `app.register(pocketsflowWebhook, …)`: the receiver(s) of this context and `close()`. */
    pocketsflowWebhook: PocketsflowWebhookDecorator
  }
  interface FastifyRequest {
    /**
     * On the webhook route, the event of a delivery accepted as new, set before the response is
     * sent (so `onSend` / `onResponse` hooks see it). `undefined` for rejections and duplicates,
     * and on every other route: like the handlers, code reading it sees each event once.
     */
    pocketsflowEvent?: PocketsflowRequestEvent | undefined
  }
}

interface FastifyOnlyOptions {
  /**
   * How long `app.close()` waits for running handlers before aborting them (they then reach
   * `onError` and their events are released). Default: until they finish.
   */
  closeTimeoutMs?: number
}

/**
 * The core's options (`secret`, `path`, `on`, `onEvent`, `onError`, `provider`, …) plus
 * `closeTimeoutMs`. Handlers in `on` are typed per event of provider `P`.
 */
export type PocketsflowWebhookOptions<P extends Provider = 'pocketsflow'> = WebhookReceiverOptions<P> &
  FastifyOnlyOptions &
  (P extends 'pocketsflow' ? { provider?: P } : { provider: P })

/**
 * The plugin's type: one signature per provider. `app.register(pocketsflowWebhook, { … })` infers
 * from the last one (Pocketsflow, the default), so its handlers are typed without annotations; for
 * another provider name it: `app.register<PocketsflowWebhookOptions<'pocketbook'>>(pocketsflowWebhook, { provider: 'pocketbook', … })`.
 * (A union of option types would not do: TypeScript cannot type handlers against it through
 * `register`'s signature.)
 */
export type PocketsflowWebhookPlugin = FastifyPluginAsync<PocketsflowWebhookOptions<'standard-webhooks'>> &
  FastifyPluginAsync<PocketsflowWebhookOptions<'pocketbook'>> &
  FastifyPluginAsync<PocketsflowWebhookOptions<'pocketsflow'>>

type AnyProviderOptions = PocketsflowWebhookOptions<'pocketsflow'> | PocketsflowWebhookOptions<'pocketbook'> | PocketsflowWebhookOptions<'standard-webhooks'>

const EMPTY_BODY = new Uint8Array(0)

// What onRequest's precheck found in the headers, for the handler once the body is in: a request
// decoration of this plugin's route context, so the core parses the headers once.
const CHECKED = Symbol('pocketsflow-webhooks checked headers')
type CheckedRequest = FastifyRequest & { [CHECKED]?: CheckedHeaders | undefined }

// Fastify answers these itself, before the handler, with its own body and no log line of ours;
// mapped to the core's reasons, they get the core's status, body, log line and `rejected` hook.
const PARSER_ERRORS: Readonly<Record<string, readonly [RejectionReason, string?]>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ['body_too_large'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['body_unreadable', 'the body is not as long as its Content-Length header says'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['body_unreadable', 'Fastify refused the malformed Content-Type header, so the body was not read'],
}

/** Hands the core's answer to Fastify, so the app's onSend/onResponse hooks and logging still apply. */
function send(request: FastifyRequest, reply: FastifyReply, result: ReceiverResult): FastifyReply {
  const { status, headers, body } = result.response
  reply.code(status).headers(headers)
  if (shouldCloseConnection(request.raw)) reply.header('connection', 'close')
  return reply.send(body)
}

/** The answer to a delivery that reached the handler; an accepted one also schedules the handlers. */
function answer(request: FastifyRequest, reply: FastifyReply, result: ReceiverResult): FastifyReply {
  if (result.after) {
    request.pocketsflowEvent = result.event as PocketsflowRequestEvent
    // Registered before the send: the handlers run once the response is out, or the client went away.
    afterResponse(reply.raw, result)
  }
  return send(request, reply, result)
}

interface Registration {
  readonly receiver: WebhookReceiver
  readonly closeOptions: { timeoutMs: number } | undefined
}

const quote = (paths: readonly string[]): string => paths.map((path) => JSON.stringify(path)).join(', ')

// The registrations behind each `app.pocketsflowWebhook` this plugin made: one decorator per
// context, shared by the registrations made in it. Kept here, not on the decorator, so that the
// decorator shows the public API alone.
const registrationsOf = new WeakMap<PocketsflowWebhookDecorator, Registration[]>()

function createDecorator(registrations: Registration[]): PocketsflowWebhookDecorator {
  const receivers = (): readonly WebhookReceiver[] => Object.freeze(registrations.map((registration) => registration.receiver))
  const decorator: PocketsflowWebhookDecorator = {
    get receiver(): WebhookReceiver {
      const all = receivers()
      if (all.length === 1) return all[0] as WebhookReceiver
      if (all.length === 0) throw new Error('pocketsflow-webhooks: no webhook is registered in this context yet')
      const paths = all.map((receiver) => receiver.path)
      throw new Error(
        `pocketsflow-webhooks: app.pocketsflowWebhook.receiver is ambiguous, ${all.length} webhooks are registered in this context ` +
          `(${quote(paths)}); use app.pocketsflowWebhook.receiverAt(${JSON.stringify(paths[1])}) or app.pocketsflowWebhook.receivers`,
      )
    },
    get receivers(): readonly WebhookReceiver[] {
      return receivers()
    },
    receiverAt(path: string): WebhookReceiver {
      // As the core normalises a receiver's own path (a trailing slash dropped); any other string just matches none.
      const wanted = typeof path === 'string' && path.startsWith('/') ? normaliseWebhookPath(path) : path
      const found = receivers().find((receiver) => receiver.path === wanted)
      if (found) return found
      throw new Error(
        `pocketsflow-webhooks: no webhook is registered at ${JSON.stringify(path)} in this context; registered: ` +
          `${quote(receivers().map((receiver) => receiver.path))} (their \`path\` options, without the context's prefix)`,
      )
    },
    close: (options?: { timeoutMs?: number }) => closeAll(registrations, () => options),
  }
  registrationsOf.set(decorator, registrations)
  return decorator
}

/** Closes every registration side by side: one slow webhook neither holds up the others nor adds its timeout to theirs. */
async function closeAll(registrations: readonly Registration[], optionsFor: (registration: Registration) => { timeoutMs?: number } | undefined): Promise<void> {
  const results = await Promise.allSettled(registrations.map((registration) => registration.receiver.close(optionsFor(registration))))
  const failed = results.find((result) => result.status === 'rejected')
  if (failed) throw failed.reason
}

// Async plugins, so a configuration error becomes a rejected app.ready() / listen(), not a crash.
const plugin: FastifyPluginAsync<AnyProviderOptions> = async (fastify, options) => {
  // The registrations of this context (not of a parent's: a child context gets its own decorator).
  let registrations: Registration[] | undefined
  if (Object.hasOwn(fastify, 'pocketsflowWebhook')) {
    registrations = registrationsOf.get(fastify.pocketsflowWebhook)
    if (registrations === undefined) {
      // Fastify's own error for this ("decorator already added") would not say what to do instead.
      throw new Error(
        'pocketsflow-webhooks: this context already has a `pocketsflowWebhook` decorator that is not this plugin\'s ' +
          '(another plugin, or this package loaded twice, as ESM and as CommonJS); register the webhook in a context of its own: ' +
          'app.register(async (scope) => { await scope.register(pocketsflowWebhook, { … }) })',
      )
    }
  } else {
    const created: Registration[] = (registrations = [])
    fastify.decorate('pocketsflowWebhook', createDecorator(created))
    // Fastify has stopped listening and finished the requests in flight by now; this drains the
    // handlers of every registration in this context, each with its own closeTimeoutMs.
    fastify.addHook('onClose', (_instance, closed) => void closeAll(created, (registration) => registration.closeOptions).then(() => closed(), closed))
  }
  // Checked before the receiver exists: creating one can start an inbox's workers.
  const path = normaliseWebhookPath(options.path)
  if (registrations.some((registration) => registration.receiver.path === path)) {
    throw new Error(
      `pocketsflow-webhooks: a webhook is already registered at ${JSON.stringify(path)} in this context; ` +
        'give each registration its own `path` (two senders need two URLs)',
    )
  }
  // Throws for configuration mistakes (empty secret, bad path), which fails app.ready() / listen().
  const receiver = createWebhookReceiver(options as WebhookReceiverOptions<Provider>)
  const closeOptions = options.closeTimeoutMs === undefined ? undefined : { timeoutMs: options.closeTimeoutMs }
  registrations.push({ receiver, closeOptions })

  // This plugin is not encapsulated (so the app sees the decorator), but the raw-body parser must
  // be: the route lives in a child context whose parsers are the catch-all buffer one alone, so the
  // app's own JSON parser (default or custom) never touches the webhook, and vice versa.
  fastify.register(async function webhookRoute(scope: FastifyInstance) {
    scope.decorateRequest('pocketsflowEvent', undefined)
    scope.decorateRequest(CHECKED, undefined)
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: receiver.bodyLimit }, (_request, body, parsed) => parsed(null, body))

    const route = {
      // Every method, so that a GET gets the core's 405 with Allow: POST, not Fastify's 404.
      method: scope.supportedMethods,
      bodyLimit: receiver.bodyLimit,
      // Runs before Fastify reads the body: what the headers alone condemn is answered unread.
      onRequest(request: FastifyRequest, reply: FastifyReply, next: () => void): void {
        const checked = receiver.precheck({ method: request.method, headers: request.headers })
        if (checked.rejected) {
          send(request, reply, checked.rejected)
          return
        }
        ;(request as CheckedRequest)[CHECKED] = checked
        next()
      },
      errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
        const mapped = PARSER_ERRORS[error.code]
        // Anything else (an app hook that threw, a client that hung up) is the app's error handler's.
        if (!mapped) throw error
        return send(request, reply, receiver.reject(mapped[0], mapped[1]))
      },
      handler(request: FastifyRequest, reply: FastifyReply): FastifyReply | Promise<FastifyReply> {
        // Fastify calls no parser for a body-less request: the core still decides what that means.
        const body = (request.body as Uint8Array | undefined) ?? EMPTY_BODY
        const checked = (request as CheckedRequest)[CHECKED]
        const result = receiver.handleNow({ method: request.method, headers: request.headers, body, checked })
        // Most deliveries are answered synchronously, like a hand-written route: no promise for Fastify to wait on.
        return result instanceof Promise ? result.then((settled) => answer(request, reply, settled)) : answer(request, reply, result)
      },
    }
    try {
      scope.route({ ...route, url: receiver.path })
    } catch (error) {
      // The same path registered in a parent or sibling context, or a route of the app's own there.
      if ((error as FastifyError).code !== 'FST_ERR_DUPLICATED_ROUTE') throw error
      throw new Error(
        `pocketsflow-webhooks: ${JSON.stringify(`${scope.prefix}${receiver.path}`)} already has a route (another pocketsflowWebhook ` +
          'registration, in another context, or a route of the app); give this registration its own `path`',
        { cause: error },
      )
    }
    // The core treats a trailing slash as the same path; Fastify does not, unless the app said so.
    if (receiver.path !== '/' && !scope.findRoute({ method: 'POST', url: `${scope.prefix}${receiver.path}/` })) {
      scope.route({ ...route, url: `${receiver.path}/` })
    }
  })
}

/**
 * `app.register(pocketsflowWebhook, { secret, on })`: a POST route on `path` (default
 * `/webhooks/pocketsflow`, under the prefix of the context it is registered in) that verifies,
 * acknowledges and then runs the handlers. Register it once per sender (each with its own `path`);
 * the context it is registered in gets `pocketsflowWebhook`, with the receiver of each.
 * @example
 * ```ts
 * await app.register(pocketsflowWebhook, {
 *   secret: process.env.POCKETSFLOW_WEBHOOK_SECRET,
 *   on: { 'order.completed': async (event) => grantAccess(event.data.customer.email) },
 * })
 * await app.pocketsflowWebhook.receiver.deadLetters()
 * ```
 */
export const pocketsflowWebhook: PocketsflowWebhookPlugin = fp(plugin, { name: '@pocketsflow-webhooks/fastify', fastify: '5.x' })

// The whole core (types, isEventType, MemoryDedupeStore, signWebhook, …): users of this adapter
// need no second dependency for them.
export * from '@pocketsflow-webhooks/core'
