// Helpers for users' own tests: signed requests for any scheme, sample events of any type.
// Uses Web Crypto only, so the same helpers work in Node.js tests and in edge-runtime tests.
import { webCrypto } from '../crypto/web.js'
import { encodeBase64 } from '../encoding.js'
import { signWith, type SignOptions } from '../sign.js'
import type { Provider, RejectionReason } from '../types.js'
import { samplePocketbookEnvelope, samplePocketsflowPayload, sampleStandardWebhooksPayload } from './samples.js'
import { isPocketbookEventType } from '../events/pocketbook.js'
import {
  canonicalPocketsflowType,
  isPocketsflowEventType,
  type PocketsflowEventAlias,
  type PocketsflowEventType,
} from '../events/pocketsflow.js'

const randomId = () => globalThis.crypto.randomUUID().replaceAll('-', '')

export * from './samples.js'

/** A random secret in the format each sender uses (`whsec_…`; base64 key material for Standard Webhooks). */
export function generateSecret(provider: Provider = 'pocketsflow'): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(24))
  if (provider === 'standard-webhooks') return `whsec_${encodeBase64(bytes)}`
  return `whsec_${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`
}

export interface SignedRequestOptions extends Omit<SignOptions, 'body'> {
  /** The event type; the payload is a realistic sample of it unless `payload` or `body` is given. */
  type: PocketsflowEventType | PocketsflowEventAlias | (string & {})
  /** The event's JSON payload (serialized with JSON.stringify). */
  payload?: unknown
  /** The exact body bytes to send instead of a serialized payload. */
  body?: string
  /** Merged into the sample payload (Pocketsflow: top level; Pocketbook: into `data`). */
  overrides?: Record<string, unknown>
  /** Pocketsflow sample shape: the events reference (with `event` in the body, default) or the vendor's sample. */
  shape?: 'reference' | 'vendor'
}

export interface SignedRequest {
  readonly method: 'POST'
  readonly headers: Record<string, string>
  readonly body: string
}

/**
 * Builds a correctly signed delivery, ready for supertest, `app.inject()`, `fetch` or `new Request()`.
 * @example
 * ```ts
 * const delivery = await signedRequest({ secret, type: 'order.completed', overrides: { customer: { email: 'a@example.com' } } })
 * const res = await request(app).post('/webhooks/pocketsflow').set(delivery.headers).send(delivery.body)
 * expect(res.status).toBe(200)
 * ```
 */
export async function signedRequest(options: SignedRequestOptions): Promise<SignedRequest> {
  const provider = options.provider ?? 'pocketsflow'
  const body = options.body ?? JSON.stringify(options.payload ?? samplePayload(provider, options))
  const headers = await signWith(webCrypto, { ...options, provider, body, type: provider === 'pocketsflow' ? options.type : undefined })
  return { method: 'POST', headers, body }
}

function samplePayload(provider: Provider, options: SignedRequestOptions): unknown {
  if (provider === 'pocketbook') {
    if (isPocketbookEventType(options.type)) return samplePocketbookEnvelope(options.type, { overrides: options.overrides ?? {} })
    return { id: `evt_${randomId()}`, type: options.type, created: Math.floor(Date.now() / 1000), data: options.overrides ?? {} }
  }
  if (provider === 'standard-webhooks') return sampleStandardWebhooksPayload(options.type, options.overrides)
  if (!isPocketsflowEventType(canonicalPocketsflowType(options.type))) {
    // A type this version does not know: still a valid delivery, so tests of catch-alls can send one.
    return { event: options.type, webhookId: randomId(), timestamp: Date.now(), testMode: true, livemode: false, ...options.overrides }
  }
  return samplePocketsflowPayload(options.type as PocketsflowEventType, {
    shape: options.shape ?? 'reference',
    ...(options.overrides ? { overrides: options.overrides } : {}),
  })
}

export interface RejectedDelivery {
  /** What is wrong with it, for test names: "tampered body", "stale timestamp", … */
  readonly label: string
  readonly request: SignedRequest
  /** The reason the core gives; every one of these is answered 401. */
  readonly reason: RejectionReason
}

/**
 * Deliveries every receiver must refuse with 401 and never hand to a handler: tampered body,
 * missing or garbled signature, wrong secret, stale, future, missing and garbage timestamps, and an event
 * header that contradicts the signed body. For your own integration tests, and the adapters'.
 */
export async function rejectedDeliveries(options: { secret: string; type?: string }): Promise<RejectedDelivery[]> {
  const type = options.type ?? 'order.completed'
  const valid = () => signedRequest({ secret: options.secret, type })
  const withHeaders = async (headers: Record<string, string | undefined>) => {
    const request = await valid()
    const merged: Record<string, string> = { ...request.headers }
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) delete merged[name]
      else merged[name] = value
    }
    return { ...request, headers: merged }
  }
  const tampered = await valid()
  return [
    // One space more: still valid JSON, no longer the signed bytes.
    { label: 'tampered body', request: { ...tampered, body: `${tampered.body.slice(0, -1)} }` }, reason: 'signature_mismatch' },
    { label: 'missing signature', request: await withHeaders({ 'X-Pocketsflow-Signature': undefined }), reason: 'missing_signature' },
    { label: 'garbled signature', request: await withHeaders({ 'X-Pocketsflow-Signature': 'not-hex-at-all' }), reason: 'invalid_signature_header' },
    { label: 'wrong secret', request: await signedRequest({ secret: `${options.secret}_other`, type }), reason: 'signature_mismatch' },
    { label: 'stale timestamp', request: await signedRequest({ secret: options.secret, type, timestamp: Date.now() - 10 * 60_000 }), reason: 'timestamp_too_old' },
    { label: 'future timestamp', request: await signedRequest({ secret: options.secret, type, timestamp: Date.now() + 10 * 60_000 }), reason: 'timestamp_in_future' },
    { label: 'missing timestamp', request: await withHeaders({ 'X-Pocketsflow-Timestamp': undefined }), reason: 'missing_timestamp' },
    { label: 'garbage timestamp', request: await withHeaders({ 'X-Pocketsflow-Timestamp': '123abc' }), reason: 'invalid_timestamp' },
    {
      label: 'event header contradicting the body',
      request: await withHeaders({ 'X-Pocketsflow-Event': type === 'order.refunded' ? 'order.completed' : 'order.refunded' }),
      reason: 'event_type_mismatch',
    },
  ]
}
