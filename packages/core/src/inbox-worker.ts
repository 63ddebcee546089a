import { callHook } from './dispatch.js'
import { resolveHooks, type HooksOption } from './hooks.js'
import type { InboxDepth, WebhookInbox } from './inbox.js'
import { resolveLogger } from './logger.js'
import { createDispatcher, startInbox, type DispatchOptions, type SchemaMap } from './receiver.js'
import type { Provider } from './types.js'

export interface InboxWorkerOptions<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>> extends Omit<DispatchOptions<P, S>, 'concurrency'> {
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
 * @example
 * ```ts
 * const worker = startInboxWorker({ inbox: postgresInbox({ connectionString }), on: { 'order.completed': grant } })
 * process.once('SIGTERM', () => worker.close({ timeoutMs: 10_000 }))
 * ```
 */
export function startInboxWorker<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>>(options: InboxWorkerOptions<P, S>): InboxWorker {
  if (options === null || typeof options !== 'object' || typeof options.inbox?.start !== 'function') {
    throw new TypeError('pocketsflow-webhooks: startInboxWorker needs { inbox, on | onEvent }')
  }
  const logger = resolveLogger(options.logger)
  const dispatcher = createDispatcher(options, logger)
  if (dispatcher.handlerCount === 0) {
    throw new TypeError('pocketsflow-webhooks: startInboxWorker needs handlers: "on" and/or "onEvent" (every one given is undefined)')
  }
  // A worker serves whichever receiver of its provider records into the inbox: no path.
  const provider: Provider = options.provider ?? 'pocketsflow'
  const release = startInbox(options.inbox, dispatcher, logger, { provider })
  const hooks = resolveHooks(options.hooks as HooksOption<never> | undefined, logger)
  const inbox = options.inbox
  if (hooks.observe) {
    const source = { provider, ...(inbox.depth ? { inboxDepth: () => (inbox.depth as () => Promise<InboxDepth>).call(inbox), inbox } : {}) }
    callHook(logger, 'observe', () => hooks.observe?.(source))
  }
  let closing: Promise<void> | undefined
  return {
    close(closeOptions) {
      closing ??= options.inbox
        .close(closeOptions)
        .catch((error: unknown) => logger.error({ err: error }, 'inbox failed to close'))
        .finally(release)
      return closing
    },
  }
}
