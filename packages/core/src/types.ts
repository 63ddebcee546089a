/** The raw request body exactly as received. Buffers are Uint8Arrays; `request.arrayBuffer()` works too. */
export type Body = string | Uint8Array | ArrayBuffer

export type Provider = 'pocketsflow' | 'pocketbook' | 'standard-webhooks'

/** A header value as frameworks hand it over: Node gives string | string[], others may give numbers. */
export type HeaderValue = string | readonly string[] | number | null | undefined

/** Fetch `Headers` (or anything with a case-insensitive `get`), or a plain object such as Node's `req.headers`. */
export type HeadersInput = { get(name: string): string | null } | Readonly<Record<string, HeaderValue>>

/** Why a delivery was not accepted. Stable strings: safe to count, alert and switch on. */
export type RejectionReason =
  // 401: the delivery can't be trusted
  | 'missing_signature'
  | 'invalid_signature_header'
  | 'duplicate_header'
  | 'signature_mismatch'
  | 'missing_timestamp'
  | 'invalid_timestamp'
  | 'timestamp_too_old'
  | 'timestamp_in_future'
  | 'missing_webhook_id'
  | 'event_type_mismatch'
  // 400: authentic, but not a usable event
  | 'malformed_json'
  | 'invalid_payload'
  | 'missing_event_type'
  // reported by the receiver or an adapter
  | 'method_not_allowed'
  | 'body_too_large'
  | 'body_unreadable'
  | 'closed'
  | 'store_unavailable'
  | 'configuration_error'

/** What the receiver did with one delivery: the HTTP answer to send. */
export interface WebhookResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/** A pino-compatible logger: `logger.warn({ reason }, 'message')`. */
export interface Logger {
  debug(obj: object, msg?: string): void
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
  error(obj: object, msg?: string): void
}
