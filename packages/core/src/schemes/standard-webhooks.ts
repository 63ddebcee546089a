import { decodeBase64, decodeBase64Lenient, encodeBase64 } from '../encoding.js'
import { UNTYPED } from '../event.js'
import { REPEATED_HEADER, readHeader } from '../headers.js'
import { isPlainObject } from '../json.js'
import { parseTimestamp } from '../timestamp.js'
import { MAX_SIGNATURES, type Scheme } from './scheme.js'

const PREFIX = 'whsec_'

/**
 * Standard Webhooks: `webhook-id`, `webhook-timestamp` (seconds) and
 * `webhook-signature: v1,<base64> [v1,<base64> …]` over `${id}.${timestamp}.${body}`;
 * the secret is base64 after its `whsec_` prefix.
 */
const SIGNATURE = 'webhook-signature'

export const standardWebhooksScheme: Scheme = {
  provider: 'standard-webhooks',
  signatureHeader: SIGNATURE,
  signedContentNames: ['id.timestamp.body'],

  keyFromSecret(secret) {
    const encoded = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret
    const key = decodeBase64Lenient(encoded)
    if (!key || key.length === 0) {
      throw new TypeError(
        'pocketsflow-webhooks: a standard-webhooks secret must be base64, optionally prefixed with "whsec_"',
      )
    }
    return key
  },

  readHeaders(headers) {
    const id = readHeader(headers, 'webhook-id')
    const timestamp = readHeader(headers, 'webhook-timestamp')
    const header = readHeader(headers, SIGNATURE)
    if (id === REPEATED_HEADER || timestamp === REPEATED_HEADER || header === REPEATED_HEADER) return 'duplicate_header'
    if (header === undefined || header === '') return 'missing_signature'
    if (id === undefined || id === '') return 'missing_webhook_id'
    if (timestamp === undefined || timestamp === '') return 'missing_timestamp'
    const timestampMs = parseTimestamp(timestamp, 'seconds')
    if (timestampMs === undefined) return 'invalid_timestamp'

    const entries = header.split(' ')
    if (entries.length > MAX_SIGNATURES) return 'invalid_signature_header'
    const signatures: Uint8Array[] = []
    for (const entry of entries) {
      if (!entry.startsWith('v1,')) continue // other versions (v1a: asymmetric) are not ours to check
      const bytes = decodeBase64(entry.slice(3))
      if (bytes && bytes.length === 32) signatures.push(bytes)
    }
    if (signatures.length === 0) return 'invalid_signature_header'
    return { signatures, prefixes: [`${id}.${timestamp}.`], timestampMs, type: undefined, id }
  },

  eventFields(payload, headers) {
    const type = payload['type']
    const typed = typeof type === 'string' && type !== ''
    return {
      // Authentic but untyped (the spec's own test vector has no type): handed to onEvent.
      type: typed ? type : UNTYPED,
      deliveredType: typed ? type : '',
      data: typed && isPlainObject(payload['data']) ? payload['data'] : payload,
      id: headers.id,
    }
  },

  prepareSignature(input) {
    const t = String(Math.floor(input.timestampMs / 1000))
    const id = input.id ?? `msg_${randomId()}`
    return {
      prefix: `${id}.${t}.`,
      headers: { 'webhook-id': id, 'webhook-timestamp': t },
      signatureHeader: SIGNATURE,
    }
  },
  formatSignature: (mac) => `v1,${encodeBase64(mac)}`,
}

function randomId(): string {
  return globalThis.crypto.randomUUID().replaceAll('-', '')
}
