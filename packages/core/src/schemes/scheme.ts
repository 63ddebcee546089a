import type { HeadersInput, Provider, RejectionReason } from '../types.js'

/** What a scheme reads from the headers, before any crypto runs. */
export interface SignedHeaders {
  /** Candidate signatures, decoded; each is compared against every computed HMAC. */
  readonly signatures: readonly Uint8Array[]
  /** What may have been signed, as a prefix to the raw body ('' = the body alone). Tried in order. */
  readonly prefixes: readonly string[]
  /** Delivery time in epoch milliseconds, if the sender said. */
  readonly timestampMs: number | undefined
  /** The event type announced in a header (unsigned for Pocketsflow). */
  readonly type: string | undefined
  /** A signed delivery id from the headers (Standard Webhooks' `webhook-id`). */
  readonly id: string | undefined
}

/** The parts of an event a scheme takes from the verified, parsed payload. */
export interface PayloadFields {
  readonly type: string
  readonly deliveredType: string
  readonly data: unknown
  /** The sender's own idempotency key, when it has one; otherwise a hash of the body is used. */
  readonly id: string | undefined
}

export interface SignInput {
  readonly body: string | Uint8Array | ArrayBuffer
  /** Epoch milliseconds. */
  readonly timestampMs: number
  readonly type: string | undefined
  readonly id: string | undefined
  /** Pocketsflow only: sign the body alone (what it sends today) or `${timestamp}.${body}`. */
  readonly signedContent: 'body' | 'timestamp.body' | undefined
  /** Pocketsflow only: the timestamp header in milliseconds (what it sends) or seconds. */
  readonly timestampUnit: 'ms' | 's' | undefined
}

export interface Scheme {
  readonly provider: Provider
  /** The header carrying the signature, lower-case: a request without it is not this sender's delivery. */
  readonly signatureHeader: string
  /** Names of `prefixes` entries, for the debug detail of which one matched. */
  readonly signedContentNames: readonly string[]
  /** The HMAC key bytes for a configured secret; throws a configuration error when it is unusable. */
  keyFromSecret(secret: string): Uint8Array
  readHeaders(headers: HeadersInput): SignedHeaders | RejectionReason
  eventFields(payload: Record<string, unknown>, headers: SignedHeaders): PayloadFields | RejectionReason
  /** The signed content's prefix and the headers to send, minus the signature itself. */
  prepareSignature(input: SignInput): { prefix: string; headers: Record<string, string>; signatureHeader: string }
  formatSignature(mac: Uint8Array, input: SignInput): string
}

/** At most this many signatures in one header: each is compared to every computed HMAC. */
export const MAX_SIGNATURES = 32
