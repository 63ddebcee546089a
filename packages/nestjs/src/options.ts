import type { Provider, WebhookReceiverOptions } from '@pocketsflow-webhooks/core'

/**
 * The core receiver's options (`secret`, `provider`, `path`, `tolerance`, `bodyLimit`, `on`,
 * `onEvent`, `onError`, `retry`, `handlerTimeoutMs`, `dedupe`, `logger`, `hooks`, …: see the
 * core's README), plus how long shutdown waits for running handlers.
 */
export interface PocketsflowWebhookModuleOptions<P extends Provider = 'pocketsflow'> extends WebhookReceiverOptions<P> {
  /**
   * On shutdown (`app.close()`, or a signal with `app.enableShutdownHooks()`): how long to wait for
   * running handlers before aborting them; each unfinished event then reaches `onError`.
   * Default 10 000 ms; `Infinity` waits as long as they take. (The Fastify adapter's option of the
   * same name and meaning.)
   */
  closeTimeoutMs?: number
  /** @deprecated The former name of `closeTimeoutMs`, still accepted. */
  shutdownTimeoutMs?: number
}

/** Options fixed when the module is declared (given next to `useFactory` in `forRootAsync`). */
export interface PocketsflowWebhookModuleExtras {
  /** Register the module as global, so any module can use the guard (default false). */
  isGlobal?: boolean
  /**
   * Register the webhook route at `path` (default true). `false` when you only use the guard on a
   * controller of your own.
   */
  route?: boolean
  /**
   * Decorators applied to the webhook route's handler method, e.g. the metadata your global auth
   * guard reads to let a route through: `decorators: [Public()]` or `[SetMetadata(IS_PUBLIC_KEY, true)]`.
   */
  decorators?: readonly MethodDecorator[]
}

export const DEFAULT_EXTRAS: Required<PocketsflowWebhookModuleExtras> = Object.freeze({
  isGlobal: false,
  route: true,
  decorators: Object.freeze([]),
})

/** Injection token of the module options: `@Inject(POCKETSFLOW_WEBHOOK_OPTIONS)`. */
export const POCKETSFLOW_WEBHOOK_OPTIONS = 'POCKETSFLOW_WEBHOOK_MODULE_OPTIONS'
