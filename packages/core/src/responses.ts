// What the receiver answers: one status per rejection reason, one body per status, and the hint
// logged beside each (never sent). Every adapter answers from these tables, so a reason means the
// same status and body whatever the framework.
import type { RejectionReason, WebhookResponse } from './types.js'

const STATUS: Readonly<Record<RejectionReason, number>> = {
  missing_signature: 401,
  invalid_signature_header: 401,
  duplicate_header: 401,
  signature_mismatch: 401,
  missing_timestamp: 401,
  invalid_timestamp: 401,
  timestamp_too_old: 401,
  timestamp_in_future: 401,
  missing_webhook_id: 401,
  event_type_mismatch: 401,
  malformed_json: 400,
  invalid_payload: 400,
  missing_event_type: 400,
  body_unreadable: 400,
  method_not_allowed: 405,
  body_too_large: 413,
  closed: 503,
  store_unavailable: 503,
  configuration_error: 500,
}

/** Every rejection reason, for metrics that start each series at 0. */
export const REJECTION_REASONS: readonly RejectionReason[] = /* @__PURE__ */ Object.freeze(Object.keys(STATUS) as RejectionReason[])

/** The HTTP status for a rejection reason: the one table every adapter answers from. */
export function statusForReason(reason: RejectionReason): number {
  return STATUS[reason] ?? 400
}

const JSON_HEADERS = /* @__PURE__ */ Object.freeze({ 'content-type': 'application/json; charset=utf-8' })

function response(status: number, body: string, extra?: Record<string, string>): WebhookResponse {
  return Object.freeze({ status, headers: extra ? Object.freeze({ ...JSON_HEADERS, ...extra }) : JSON_HEADERS, body })
}

// Bodies are deliberately generic: the precise reason goes to the logs, never to the sender.
export const ACCEPTED = /* @__PURE__ */ response(200, '{"received":true}')
export const DUPLICATE_ACKNOWLEDGED = /* @__PURE__ */ response(200, '{"received":true,"duplicate":true}')
export const RESPONSES: Readonly<Record<number, WebhookResponse>> = {
  400: response(400, '{"error":"invalid payload"}'),
  401: response(401, '{"error":"invalid signature"}'),
  405: response(405, '{"error":"method not allowed"}', { allow: 'POST' }),
  413: response(413, '{"error":"payload too large"}'),
  500: response(500, '{"error":"webhook receiver misconfigured"}'),
  503: response(503, '{"error":"temporarily unavailable"}', { 'retry-after': '5' }),
}

export const HINTS: Partial<Record<RejectionReason, string>> = {
  timestamp_too_old:
    'the delivery is older than the tolerance: a replay, or a clock difference (widen `tolerance` if clocks are skewed)',
  timestamp_in_future: 'the delivery is dated in the future: usually a clock difference (check NTP, or widen `tolerance`)',
  signature_mismatch:
    'no configured secret matches: wrong secret, or the body was changed (parsed and re-serialized) before verification',
  event_type_mismatch: 'the event header names another type than the signed body: the header was altered',
}
