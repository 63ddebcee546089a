// Node.js entry: node:crypto for the HMAC (the faster path on Node), the App Router handler and the
// Pages Router handler. Under the `edge-light` condition, package exports select ./edge.ts instead.
import { createWebhookReceiver, type Provider, type SchemaMap } from '@pocketsflow-webhooks/core'
import { resolveLogger } from '@pocketsflow-webhooks/core/inbox'
import * as nextServer from 'next/server.js'
import { createRouteHandler, type PocketsflowRouteHandler, type PocketsflowWebhookOptions } from './route.js'
import type { NextAfter } from './schedule.js'

/**
 * Next's `after()` (15.1+), or `undefined` on Next 14. Not a named import: Next 14 has none, and an
 * ES module importing a missing name fails to load. A static member read, because webpack builds
 * of Next alias next/server to an `export *` of CommonJS, whose namespace object webpack leaves
 * empty: only a static read reaches the export there (Node, CommonJS and Turbopack answer either way).
 */
const nextAfter = (() => {
  const after: unknown = (nextServer as { after?: unknown }).after
  return typeof after === 'function' ? (after as NextAfter) : undefined
})()

/**
 * `export const POST = pocketsflowWebhook({ secret, on })` in `app/…/route.ts`: reads the exact
 * bytes, answers like every adapter (200, 400, 401, 405, 413, 503), and runs the handlers with
 * Next's `after()` where available (see the `schedule` option).
 * @example
 * ```ts
 * // app/webhooks/pocketsflow/route.ts
 * export const POST = pocketsflowWebhook({
 *   secret: process.env.POCKETSFLOW_WEBHOOK_SECRET,
 *   on: { 'order.completed': async (event) => grantAccess(event.data.customer.email) },
 * })
 * ```
 */
export function pocketsflowWebhook<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>>(options: PocketsflowWebhookOptions<P, S>): PocketsflowRouteHandler {
  return createRouteHandler((o) => createWebhookReceiver(o), options, resolveLogger(options?.logger), nextAfter)
}

export { pocketsflowPagesWebhook, type PocketsflowPagesHandler, type PocketsflowPagesWebhookOptions } from './pages.js'
export type { PocketsflowRouteHandler, PocketsflowWebhookOptions } from './route.js'
export type { Schedule, ScheduleOptions, WaitUntil } from './schedule.js'
// The whole core (types, isEventType, MemoryDedupeStore, signWebhook, …): users of this adapter
// need no second dependency for them.
export * from '@pocketsflow-webhooks/core'
