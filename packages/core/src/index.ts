// Entry point using node:crypto.
import { nodeCrypto } from './crypto/node.js'
import type { AnyEventFor } from './event.js'
import { createReceiverWith, type SchemaMap, type WebhookReceiver, type WebhookReceiverOptions } from './receiver.js'
import { signWith, type SignOptions } from './sign.js'
import type { Body, HeadersInput, Provider } from './types.js'
import { createVerifier, type Verifier, type VerifyOptions, type VerifyResult } from './verify.js'
import { resolveLogger } from './logger.js'
import { fetchHandlerFor, type FetchHandler } from './fetch.js'

export * from './shared.js'
export type { FetchHandler, WaitUntil } from './fetch.js'

/**
 * Creates the framework-free receiver that adapters wrap. Throws on invalid configuration only.
 * @example
 * ```ts
 * const receiver = createWebhookReceiver({ secret, on: { 'order.completed': grant } })
 * const result = await receiver.handle({ method: 'POST', headers, body }) // body: the raw bytes
 * send(result.response)
 * await result.after?.() // once the response is out: the handlers
 * ```
 */
export function createWebhookReceiver<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>>(options: WebhookReceiverOptions<P, S>): WebhookReceiver {
  return createReceiverWith(nodeCrypto, options)
}

/**
 * A Fetch API handler, `(request, { waitUntil }?) => Promise<Response>`, for Bun, Deno, Cloudflare
 * Workers, Vercel Edge or any fetch server: every request it is given is a delivery (routing is the
 * host's). The handlers run after the response, through `waitUntil` when given.
 * @example
 * ```ts
 * const handle = createFetchHandler({ secret, on: { 'order.completed': grant } })
 * export default { fetch: (request, env, ctx) => handle(request, { waitUntil: ctx.waitUntil.bind(ctx) }) } // a Worker
 * Bun.serve({ fetch: (request) => handle(request) })
 * ```
 */
export function createFetchHandler<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>>(options: WebhookReceiverOptions<P, S>): FetchHandler {
  return fetchHandlerFor(createWebhookReceiver(options), resolveLogger(options.logger))
}

/** A reusable verifier: keys are prepared once. Its `verify` never throws. */
export function createWebhookVerifier(options: VerifyOptions): Verifier {
  return createVerifier(nodeCrypto, options)
}

/**
 * Verifies one delivery: signature (constant time, every secret), timestamp, JSON.
 * Never throws because of the request; only a missing or empty secret (configuration) throws.
 * @example
 * ```ts
 * const result = await verifyWebhook({ secret, headers, body })
 * if (result.ok) console.log(result.event.type, result.event.id)
 * else console.warn('refused:', result.reason) // a stable code, e.g. 'signature_mismatch'
 * ```
 */
export function verifyWebhook<P extends Provider = 'pocketsflow'>(
  options: VerifyOptions & { provider?: P; headers: HeadersInput; body: Body },
): Promise<VerifyResult<AnyEventFor<P>>> {
  return createVerifier(nodeCrypto, options).verify(options.headers, options.body) as Promise<VerifyResult<AnyEventFor<P>>>
}

/**
 * The headers a sender would put on `body` (signature, timestamp, event type, Content-Type).
 * @example
 * ```ts
 * const body = JSON.stringify({ event: 'order.completed', customer: { email: 'a@example.com' } })
 * const headers = await signWebhook({ provider: 'pocketsflow', secret, body })
 * await fetch('http://localhost:3000/webhooks/pocketsflow', { method: 'POST', headers, body })
 * ```
 */
export function signWebhook(options: SignOptions): Promise<Record<string, string>> {
  return signWith(nodeCrypto, options)
}
