import { Dispatcher, type EventHandler, type ReceiverHooks } from './dispatch.js'
import type { WebhookHandlerError } from './errors.js'
import type { WebhookEvent } from './event.js'
import type { WebhookInbox } from './inbox.js'
import { resolveLogger, wantsDebug } from './logger.js'
import { buildHandlerMap, startInbox, type WebhookReceiverOptions } from './receiver.js'
import type { Provider } from './types.js'

export interface InboxWorkerOptions<P extends Provider = 'pocketsflow'>
  extends Pick<WebhookReceiverOptions<P>, 'provider' | 'on' | 'onEvent' | 'onError' | 'retry' | 'handlerTimeoutMs' | 'logger' | 'hooks'> {
  /** The same inbox (same connection, queue or table) the web process records into. */
  inbox: WebhookInbox
}

export interface InboxWorker {
  /** Stops taking events, waits for running ones (aborted and released after `timeoutMs`), closes the inbox. */
  close(options?: { timeoutMs?: number }): Promise<void>
}

/**
 * Runs the handlers of a durable inbox in a process of its own: the web process then only verifies
 * and records (`pocketsflowWebhook({ secret, inbox })` without `on`), this one does the work.
 */
export function startInboxWorker<P extends Provider = 'pocketsflow'>(options: InboxWorkerOptions<P>): InboxWorker {
  if (options === null || typeof options !== 'object' || typeof options.inbox?.start !== 'function') {
    throw new TypeError('pocketsflow-webhooks: startInboxWorker needs { inbox, on | onEvent }')
  }
  if (options.on === undefined && options.onEvent === undefined) {
    throw new TypeError('pocketsflow-webhooks: startInboxWorker needs handlers: "on" and/or "onEvent"')
  }
  const logger = resolveLogger(options.logger)
  const dispatcher = new Dispatcher({
    handlers: buildHandlerMap(options.provider ?? 'pocketsflow', options.on as Record<string, unknown> | undefined, logger),
    onEvent: options.onEvent as EventHandler | undefined,
    onError: options.onError as ((error: WebhookHandlerError, event: WebhookEvent) => unknown) | undefined,
    retry: options.retry,
    timeoutMs: options.handlerTimeoutMs,
    logger,
    debug: wantsDebug(options.logger),
    hooks: (options.hooks ?? {}) as ReceiverHooks,
  })
  startInbox(options.inbox, dispatcher, logger)
  let closing: Promise<void> | undefined
  return {
    close(closeOptions) {
      closing ??= options.inbox.close(closeOptions).catch((error: unknown) => logger.error({ err: error }, 'inbox failed to close'))
      return closing
    },
  }
}
