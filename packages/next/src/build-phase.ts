import type { Logger, WebhookReceiver } from '@pocketsflow-webhooks/core'

/** What the build phase needs to see of a receiver's options. */
interface ReceiverOptionsSeen {
  readonly secret?: unknown
  readonly inbox?: unknown
  readonly dedupe?: unknown
}

/**
 * `next build` loads every route module to read its config (runtime, dynamic, …). The receiver is
 * not built then: an inbox's receiver starts workers that take events off the live queue or table,
 * and a build must not handle (or, by exiting mid-handler, cut short) anyone's events. It is built
 * when the route is first used, by the server. The options are still checked during the build,
 * with a receiver that has no inbox, so a mistake fails the build as it would the server; but not
 * without a secret, which builds often lack (a Docker build, CI): the server, which has it, checks
 * it. Everywhere else (runtime, unit tests) the receiver is built at once.
 */
export function prepareReceiver<O extends ReceiverOptionsSeen>(
  create: (options: O) => WebhookReceiver,
  options: O,
  logger: Logger,
): () => WebhookReceiver {
  if (!isNextBuild()) {
    const receiver = create(options)
    return () => receiver
  }
  if (isUnset(options?.secret)) {
    logger.warn(
      { phase: 'phase-production-build' },
      'no webhook secret while `next build` loads this route: fine for the build, but the route will throw at runtime unless the secret is set then',
    )
  } else {
    void create({ ...options, inbox: undefined, dedupe: false }).close()
  }
  let receiver: WebhookReceiver | undefined
  return () => (receiver ??= create(options))
}

function isNextBuild(): boolean {
  try {
    return process.env['NEXT_PHASE'] === 'phase-production-build'
  } catch {
    return false // no `process` at all: not a Next.js build
  }
}

function isUnset(secret: unknown): boolean {
  const blank = (value: unknown) => value === undefined || value === null || (typeof value === 'string' && value.trim() === '')
  return Array.isArray(secret) ? secret.length === 0 || secret.some(blank) : blank(secret)
}
