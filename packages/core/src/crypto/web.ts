import type { BackendBody as Body, CryptoBackend } from './backend.js'
import { encodeHex } from '../encoding.js'
import { isArrayBuffer } from '../realm.js'
import { sha256 } from './sha256.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle
  if (!s) throw new Error('Web Crypto (globalThis.crypto.subtle) is not available in this runtime')
  return s
}

function toBytes(body: Body): Uint8Array<ArrayBuffer> {
  if (typeof body === 'string') return encoder.encode(body)
  // Web Crypto wants an ArrayBuffer-backed view; copying also detaches us from a caller's SharedArrayBuffer.
  return isArrayBuffer(body.buffer) ? (body as Uint8Array<ArrayBuffer>) : new Uint8Array(body)
}

function concat(prefix: string, body: Body): Uint8Array<ArrayBuffer> {
  if (prefix.length === 0) return toBytes(body)
  const head = encoder.encode(prefix)
  const tail = toBytes(body)
  const out = new Uint8Array(head.length + tail.length)
  out.set(head, 0)
  out.set(tail, head.length)
  return out
}

/** Up to this many bytes, SHA-256 in JavaScript beats a crypto.subtle.digest round trip. */
const JS_SHA256_MAX_BYTES = 4096

export const webCrypto: CryptoBackend<CryptoKey> = {
  importKey: (secret) =>
    subtle().importKey('raw', new Uint8Array(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']),
  // A plain .then, not an async function: one promise fewer per delivery (bench/web).
  hmac: (key, prefix, body) => subtle().sign('HMAC', key, concat(prefix, body)).then((mac) => new Uint8Array(mac)),
  // Short inputs (a MAC: every delivery's default id) in JavaScript, with no thread-pool hop (see
  // sha256.ts); long ones (an over-long key a sender or idempotencyKey chose) natively, which is
  // several times faster past a few KiB and keeps a Worker's CPU time down.
  sha256Hex: (body) => {
    const bytes = toBytes(body)
    if (bytes.byteLength <= JS_SHA256_MAX_BYTES) return encodeHex(sha256(bytes))
    return subtle()
      .digest('SHA-256', bytes)
      .then((digest) => encodeHex(new Uint8Array(digest)))
  },
  decode: (body) => (typeof body === 'string' ? body : decoder.decode(body)),
}
