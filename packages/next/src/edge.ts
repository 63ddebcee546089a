// Edge entry, selected by the `edge-light` export condition (Next.js Edge runtime): Web Crypto
// only, no Node.js built-in anywhere on this path. Same App Router handler as the Node entry.
import { resolveLogger } from '@pocketsflow-webhooks/core/inbox'
import { createWebhookReceiver, type Provider, type SchemaMap } from '@pocketsflow-webhooks/core/web'
import * as nextServer from 'next/server.js'
import { createRouteHandler, type PocketsflowRouteHandler, type PocketsflowWebhookOptions } from './route.js'
import type { NextAfter } from './schedule.js'

/**
 * Next's `after()` (15.1+), or `undefined` on Next 14. Read from the namespace, passed as a value:
 * for the Edge, Next's webpack build aliases next/server to ES modules, where a static read of a
 * name Next 14 lacks fails the build ("'after' is not exported"), while the namespace holds every
 * export (Turbopack's too).
 */
const nextAfter = ((namespace: Record<string, unknown>) => {
  const after = namespace['after']
  return typeof after === 'function' ? (after as NextAfter) : undefined
})(nextServer as unknown as Record<string, unknown>)

/** `export const POST = pocketsflowWebhook({ secret, on })` next to `export const runtime = 'edge'`. */
export function pocketsflowWebhook<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>>(options: PocketsflowWebhookOptions<P, S>): PocketsflowRouteHandler {
  return createRouteHandler((o) => createWebhookReceiver(o), options, resolveLogger(options?.logger), nextAfter)
}

export type { PocketsflowRouteHandler, PocketsflowWebhookOptions } from './route.js'
export type { Schedule, ScheduleOptions, WaitUntil } from './schedule.js'
// The whole core (types, isEventType, MemoryDedupeStore, signWebhook, …): users of this adapter
// need no second dependency for them.
export * from '@pocketsflow-webhooks/core/web'
