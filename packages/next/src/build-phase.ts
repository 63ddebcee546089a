import type { Logger, WebhookReceiver } from '@pocketsflow-webhooks/core'

/**
 * `next build` loads every route module to read its config (runtime, dynamic, …), usually without
 * the runtime secrets (a Docker build, CI). A secret that is not set then must not fail the build:
 * the receiver is built when the route is first used instead, and that server, which has the
 * secret, validates it as usual. Everywhere else (runtime, unit tests) it is built at once, and a
 * missing secret throws right there.
 */
export function prepareReceiver(create: () => WebhookReceiver, secret: unknown, logger: Logger): () => WebhookReceiver {
  if (!(isNextBuild() && isUnset(secret))) {
    const receiver = create()
    return () => receiver
  }
  logger.warn(
    { phase: 'phase-production-build' },
    'no webhook secret while `next build` loads this route: fine for the build, but the route will throw at runtime unless the secret is set then',
  )
  let receiver: WebhookReceiver | undefined
  return () => (receiver ??= create())
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
