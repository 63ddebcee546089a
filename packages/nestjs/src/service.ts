import { Inject, Injectable, Logger, type LogLevel, type OnApplicationShutdown, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common'
import { DiscoveryService } from '@nestjs/core'
import {
  createWebhookReceiver,
  type EventHandler,
  type Logger as WebhookLogger,
  type OneOrMany,
  type Provider,
  type ReceiverResult,
  type WebhookReceiver,
} from '@pocketsflow-webhooks/core'
import { discoverHandlers, mergeHandlers } from './discovery.js'
import { receiveNestRequest, sendNestResponse, type NestHttpRequest } from './http.js'
import { POCKETSFLOW_WEBHOOK_OPTIONS, type PocketsflowWebhookModuleOptions } from './options.js'

const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000

/**
 * The core's logger interface on top of Nest's `Logger`, so the receiver's warnings go wherever
 * the app's logs go (`app.useLogger(...)`, nestjs-pino, log levels).
 */
export function nestLogger(context = 'PocketsflowWebhook'): WebhookLogger & { isLevelEnabled(level: string): boolean } {
  const logger = new Logger(context)
  const format = (obj: object, msg: string | undefined) => {
    const { err, ...fields } = obj as { err?: unknown }
    let text = msg ?? ''
    try {
      if (Object.keys(fields).length > 0) text += ` ${JSON.stringify(fields)}`
    } catch {
      text += ' [fields not serializable]'
    }
    if (err !== undefined && !(err instanceof Error)) text += ` (${String(err)})`
    return { text, stack: err instanceof Error ? err.stack : undefined }
  }
  return {
    // The core's per-delivery debug records go to Nest's `verbose`, and are not even built unless
    // that level is on: Nest prints `debug` by default, which would be a line per delivery.
    isLevelEnabled: (level) => Logger.isLevelEnabled(level === 'debug' ? 'verbose' : (level as LogLevel)),
    debug: (obj, msg) => logger.verbose(format(obj, msg).text),
    info: (obj, msg) => logger.log(format(obj, msg).text),
    warn: (obj, msg) => {
      const { text, stack } = format(obj, msg)
      logger.warn(stack ? `${text}\n${stack}` : text)
    },
    error: (obj, msg) => {
      const { text, stack } = format(obj, msg)
      if (stack) logger.error(text, stack)
      else logger.error(text)
    },
  }
}

/**
 * Owns the module's receiver: built at start-up from the module options and the discovered
 * `@OnPocketsflowEvent` methods, closed (drained) at shutdown. Inject it to reach `receiver`.
 */
@Injectable()
export class PocketsflowWebhookService implements OnModuleInit, OnModuleDestroy, OnApplicationShutdown {
  readonly #options: PocketsflowWebhookModuleOptions<Provider>
  readonly #discovery: DiscoveryService
  readonly #logger: WebhookLogger | false
  readonly #shutdownTimeoutMs: number
  /** The guard's: the same checks, statuses and logs as the route, without dedupe or handlers. */
  readonly #verifier: WebhookReceiver
  #receiver: WebhookReceiver | undefined
  #closing: Promise<void> | undefined

  constructor(
    @Inject(POCKETSFLOW_WEBHOOK_OPTIONS) options: PocketsflowWebhookModuleOptions<Provider>,
    @Inject(DiscoveryService) discovery: DiscoveryService,
  ) {
    if (options === null || typeof options !== 'object') {
      throw new TypeError('pocketsflow-webhooks: PocketsflowWebhookModule needs options ({ secret, ... }); did forRootAsync\'s useFactory return them?')
    }
    this.#options = options
    this.#discovery = discovery
    this.#logger = options.logger ?? nestLogger()
    this.#shutdownTimeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS
    if (!(this.#shutdownTimeoutMs >= 0)) throw new TypeError('pocketsflow-webhooks: "shutdownTimeoutMs" must be >= 0 (or Infinity)')
    // Built here, while Nest creates the application, so a missing secret or a bad path stops
    // NestFactory.create() with the core's message instead of failing the first delivery.
    // The guard's verifier records nothing: no dedupe store, and not the inbox, which belongs to the
    // module's own route (a guarded controller handles its event itself).
    this.#verifier = createWebhookReceiver({ ...this.#receiverOptions(), on: undefined, onEvent: undefined, dedupe: false, inbox: undefined })
  }

  #receiverOptions() {
    const { shutdownTimeoutMs: _, ...options } = this.#options
    return { ...options, logger: this.#logger }
  }

  /** The route's path, normalised by the core (relative to a global prefix, if the app has one). */
  get path(): string {
    return this.#verifier.path
  }

  /** The core receiver behind the route (available once the application has initialised). */
  get receiver(): WebhookReceiver {
    if (this.#receiver === undefined) {
      throw new Error('pocketsflow-webhooks: the receiver is created when the application initialises (app.init() / app.listen())')
    }
    return this.#receiver
  }

  onModuleInit(): void {
    if (this.#receiver !== undefined) return
    const provider = this.#verifier.provider
    const found = discoverHandlers(this.#discovery, provider)
    const { on, onEvent } = mergeHandlers(
      provider,
      this.#options.on as Record<string, OneOrMany<EventHandler> | undefined> | undefined,
      this.#options.onEvent as OneOrMany<EventHandler> | undefined,
      found,
    )
    this.#receiver = createWebhookReceiver({ ...this.#receiverOptions(), on, onEvent } as PocketsflowWebhookModuleOptions<Provider>)
  }

  /** The route: answers exactly what the core decided, then runs the handlers once it is sent. */
  async receive(req: NestHttpRequest, res: unknown): Promise<void> {
    const result = await receiveNestRequest(this.receiver, req)
    sendNestResponse(req, res, result)
  }

  /** The guard: verifies a request (signature, timestamp, body) and returns the core's verdict. */
  async verify(req: NestHttpRequest): Promise<ReceiverResult> {
    const result = await receiveNestRequest(this.#verifier, req)
    // No handlers and no dedupe store: this only settles the verifier's in-flight count for close().
    void result.after?.()
    return result
  }

  /** Stops accepting deliveries (503) and waits for running handlers, up to `shutdownTimeoutMs`. */
  close(): Promise<void> {
    const timeoutMs = this.#shutdownTimeoutMs
    this.#closing ??= Promise.all([this.#receiver?.close({ timeoutMs }), this.#verifier.close({ timeoutMs })]).then(() => {})
    return this.#closing
  }

  // The first shutdown hook Nest calls: drain while the providers the handlers use still exist.
  onModuleDestroy(): Promise<void> {
    return this.close()
  }

  onApplicationShutdown(): Promise<void> {
    return this.close()
  }
}
