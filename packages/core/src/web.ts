// Entry point using Web Crypto only: no Node.js built-ins are imported on this path (Next.js Edge, workers).
import { webCrypto } from './crypto/web.js'
import type { AnyEventFor } from './event.js'
import { createReceiverWith, type SchemaMap, type WebhookReceiver, type WebhookReceiverOptions } from './receiver.js'
import { signWith, type SignOptions } from './sign.js'
import type { Body, HeadersInput, Provider } from './types.js'
import { createVerifier, type Verifier, type VerifyOptions, type VerifyResult } from './verify.js'
import { resolveLogger } from './logger.js'
import { fetchHandlerFor, type FetchHandler } from './fetch.js'

export * from './shared.js'
export type { FetchHandler, WaitUntil } from './fetch.js'

/** Creates the framework-free receiver that adapters wrap. Throws on invalid configuration only. */
export function createWebhookReceiver<P extends Provider = 'pocketsflow', S extends SchemaMap<P> = SchemaMap<P>>(options: WebhookReceiverOptions<P, S>): WebhookReceiver {
  return createReceiverWith(webCrypto, options)
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
  return createVerifier(webCrypto, options)
}

/**
 * Verifies one delivery: signature (constant time, every secret), timestamp, JSON.
 * Never throws because of the request; only a missing or empty secret (configuration) throws.
 */
export function verifyWebhook<P extends Provider = 'pocketsflow'>(
  options: VerifyOptions & { provider?: P; headers: HeadersInput; body: Body },
): Promise<VerifyResult<AnyEventFor<P>>> {
  return createVerifier(webCrypto, options).verify(options.headers, options.body) as Promise<VerifyResult<AnyEventFor<P>>>
}

/** The headers a sender would put on `body` (signature, timestamp, event type, Content-Type). */
export function signWebhook(options: SignOptions): Promise<Record<string, string>> {
  return signWith(webCrypto, options)
}
