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
import { handleNestRequest, verifyNestRequest, type NestHttpRequest } from './http.js'
import { POCKETSFLOW_WEBHOOK_OPTIONS, type PocketsflowWebhookModuleOptions } from './options.js'

const DEFAULT_CLOSE_TIMEOUT_MS = 10_000

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
  readonly #closeTimeoutMs: number
  readonly #path: string
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
    if (options.closeTimeoutMs !== undefined && options.shutdownTimeoutMs !== undefined) {
      throw new TypeError('pocketsflow-webhooks: give "closeTimeoutMs" only ("shutdownTimeoutMs" is its former name)')
    }
    this.#closeTimeoutMs = options.closeTimeoutMs ?? options.shutdownTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS
    if (!(this.#closeTimeoutMs >= 0)) throw new TypeError('pocketsflow-webhooks: "closeTimeoutMs" must be >= 0 (or Infinity)')
    // Every option is checked here, while Nest creates the application, so a mistake (a missing
    // secret, a bad path, a bad bodyLimit) stops NestFactory.create() with the core's message
    // instead of failing later. The receiver itself needs the discovered handlers, so it is made
    // once every provider exists; this one, without handlers, starts nothing (no inbox workers)
    // and is only read for its path.
    this.#path = createWebhookReceiver({ ...this.#receiverOptions(), on: undefined, onEvent: undefined }).path
  }

  #receiverOptions() {
    const { closeTimeoutMs: _close, shutdownTimeoutMs: _formerName, ...options } = this.#options
    return { ...options, logger: this.#logger }
  }

  /** The route's path, normalised by the core (relative to a global prefix, if the app has one). */
  get path(): string {
    return this.#path
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
    const provider = this.#options.provider ?? 'pocketsflow'
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
  receive(req: NestHttpRequest, res: unknown): Promise<void> {
    return handleNestRequest(this.receiver, req, res)
  }

  /**
   * The guard: the route's checks, answers and logs (signature, timestamp, body), without dedupe or
   * handlers: the guarded controller handles its event itself.
   */
  verify(req: NestHttpRequest): Promise<ReceiverResult> {
    return verifyNestRequest(this.receiver, req)
  }

  /** Stops accepting deliveries (503) and waits for running handlers, up to `closeTimeoutMs`. */
  close(): Promise<void> {
    const timeoutMs = this.#closeTimeoutMs
    this.#closing ??= Promise.resolve(this.#receiver?.close({ timeoutMs }))
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
