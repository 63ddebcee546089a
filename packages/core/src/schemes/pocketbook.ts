import { decodeHex, encodeHex, utf8 } from '../encoding.js'
import { UNTYPED } from '../event.js'
import { REPEATED_HEADER, readHeader } from '../headers.js'
import { isPlainObject } from '../json.js'
import { parseTimestamp } from '../timestamp.js'
import { MAX_SIGNATURES, type Scheme } from './scheme.js'

const SIGNATURE = 'x-webhook-signature'

/** Pocketbook: `X-Webhook-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]` over `${t}.${body}`. */
export const pocketbookScheme: Scheme = {
  provider: 'pocketbook',
  signatureHeader: SIGNATURE,
  signedContentNames: ['timestamp.body'],
  keyFromSecret: (secret) => utf8(secret),

  readHeaders(headers) {
    const header = readHeader(headers, SIGNATURE)
    if (header === undefined || header === '') return 'missing_signature'
    if (header === REPEATED_HEADER) return 'duplicate_header'
    let t: string | undefined
    const signatures: Uint8Array[] = []
    const parts = header.split(',')
    if (parts.length > MAX_SIGNATURES + 1) return 'invalid_signature_header'
    for (const part of parts) {
      const eq = part.indexOf('=')
      if (eq < 0) return 'invalid_signature_header'
      const key = part.slice(0, eq).trim()
      const value = part.slice(eq + 1).trim()
      if (key === 't') {
        if (t !== undefined) return 'invalid_signature_header'
        t = value
      } else if (key === 'v1') {
        const bytes = value.length === 64 ? decodeHex(value) : undefined
        if (!bytes) return 'invalid_signature_header'
        signatures.push(bytes)
      }
      // Other keys are future schemes: ignored, as long as one v1 is present.
    }
    if (t === undefined) return 'missing_timestamp'
    const timestampMs = parseTimestamp(t, 'seconds')
    if (timestampMs === undefined) return 'invalid_timestamp'
    if (signatures.length === 0) return 'invalid_signature_header'
    return { signatures, prefixes: [`${t}.`], timestampMs, type: undefined, id: undefined }
  },

  eventFields(payload) {
    const type = payload['type']
    const typed = typeof type === 'string' && type !== ''
    const id = payload['id']
    return {
      // Authentic but untyped: acknowledged and handed to onEvent, never refused for its shape.
      type: typed ? type : UNTYPED,
      deliveredType: typed ? type : '',
      data: !typed ? payload : isPlainObject(payload['data']) ? payload['data'] : {},
      id: typeof id === 'string' && id !== '' ? id : undefined,
    }
  },

  prepareSignature(input) {
    const t = String(Math.floor(input.timestampMs / 1000))
    return { prefix: `${t}.`, headers: {}, signatureHeader: 'X-Webhook-Signature' }
  },
  formatSignature: (mac, input) => `t=${Math.floor(input.timestampMs / 1000)},v1=${encodeHex(mac)}`,
}
