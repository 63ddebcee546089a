import { canonicalPocketsflowType } from '../events/pocketsflow.js'
import { decodeHex, encodeHex, utf8 } from '../encoding.js'
import { UNTYPED } from '../event.js'
import { REPEATED_HEADER, readHeader } from '../headers.js'
import { parseTimestamp } from '../timestamp.js'
import type { Scheme } from './scheme.js'

const SIGNATURE = 'x-pocketsflow-signature'
const TIMESTAMP = 'x-pocketsflow-timestamp'
const EVENT = 'x-pocketsflow-event'

/**
 * Pocketsflow: lower-case hex HMAC-SHA256 of the raw body, keyed with the secret as UTF-8.
 * Its docs also describe signing `${timestamp}.${body}`; that is tried second so a move to the
 * stronger scheme keeps working. Neither the timestamp nor the event header is signed today.
 */
export const pocketsflowScheme: Scheme = {
  provider: 'pocketsflow',
  signatureHeader: SIGNATURE,
  signedContentNames: ['body', 'timestamp.body'],
  keyFromSecret: (secret) => utf8(secret),

  readHeaders(headers) {
    const signature = readHeader(headers, SIGNATURE)
    if (signature === undefined || signature === '') return 'missing_signature'
    if (signature === REPEATED_HEADER) return 'duplicate_header'
    if (signature.length !== 64) return 'invalid_signature_header'
    const bytes = decodeHex(signature)
    if (!bytes) return 'invalid_signature_header'

    const timestamp = readHeader(headers, TIMESTAMP)
    if (timestamp === REPEATED_HEADER) return 'duplicate_header'
    let timestampMs: number | undefined
    if (timestamp !== undefined && timestamp !== '') {
      timestampMs = parseTimestamp(timestamp, 'auto')
      if (timestampMs === undefined) return 'invalid_timestamp'
    }

    const type = readHeader(headers, EVENT)
    if (type === REPEATED_HEADER) return 'duplicate_header'

    return {
      signatures: [bytes],
      prefixes: timestampMs === undefined ? [''] : ['', `${timestamp}.`],
      timestampMs,
      type: type === '' ? undefined : type,
      id: undefined,
    }
  },

  eventFields(payload, headers) {
    const bodyType = typeof payload['event'] === 'string' && payload['event'] !== '' ? payload['event'] : undefined
    const delivered = bodyType ?? headers.type
    // Authentic but untyped: acknowledged and handed to onEvent, never refused for its shape.
    if (delivered === undefined) return { type: UNTYPED, deliveredType: '', data: payload, id: undefined }
    const type = canonicalPocketsflowType(delivered)
    // The header is not signed: a body that names another event means someone edited the header.
    if (bodyType !== undefined && headers.type !== undefined && type !== canonicalPocketsflowType(headers.type)) {
      return 'event_type_mismatch'
    }
    return { type, deliveredType: delivered, data: payload, id: undefined }
  },

  prepareSignature(input) {
    const timestamp = String(input.timestampUnit === 's' ? Math.floor(input.timestampMs / 1000) : input.timestampMs)
    const headers: Record<string, string> = { 'X-Pocketsflow-Timestamp': timestamp }
    if (input.type !== undefined) headers['X-Pocketsflow-Event'] = input.type
    return {
      prefix: input.signedContent === 'timestamp.body' ? `${timestamp}.` : '',
      headers,
      signatureHeader: 'X-Pocketsflow-Signature',
    }
  },
  formatSignature: (mac) => encodeHex(mac),
}
