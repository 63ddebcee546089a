// Entry point using node:crypto.
import { nodeCrypto } from './crypto/node.js'
import type { AnyEventFor } from './event.js'
import { createReceiverWith, type WebhookReceiver, type WebhookReceiverOptions } from './receiver.js'
import { signWith, type SignOptions } from './sign.js'
import type { Body, HeadersInput, Provider } from './types.js'
import { createVerifier, type Verifier, type VerifyOptions, type VerifyResult } from './verify.js'

export * from './shared.js'

/** Creates the framework-free receiver that adapters wrap. Throws on invalid configuration only. */
export function createWebhookReceiver<P extends Provider = 'pocketsflow'>(options: WebhookReceiverOptions<P>): WebhookReceiver {
  return createReceiverWith(nodeCrypto, options)
}

/** A reusable verifier: keys are prepared once. Its `verify` never throws. */
export function createWebhookVerifier(options: VerifyOptions): Verifier {
  return createVerifier(nodeCrypto, options)
}

/**
 * Verifies one delivery: signature (constant time, every secret), timestamp, JSON.
 * Never throws because of the request; only a missing or empty secret (configuration) throws.
 */
export function verifyWebhook<P extends Provider = 'pocketsflow'>(
  options: VerifyOptions & { provider?: P; headers: HeadersInput; body: Body },
): Promise<VerifyResult<AnyEventFor<P>>> {
  return createVerifier(nodeCrypto, options).verify(options.headers, options.body) as Promise<VerifyResult<AnyEventFor<P>>>
}

/** The headers a sender would put on `body` (signature, timestamp, event type, Content-Type). */
export function signWebhook(options: SignOptions): Promise<Record<string, string>> {
  return signWith(nodeCrypto, options)
}
