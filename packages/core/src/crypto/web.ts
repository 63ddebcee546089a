import type { BackendBody as Body, CryptoBackend } from './backend.js'
import { encodeHex } from '../encoding.js'
import { isArrayBuffer } from '../realm.js'

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

export const webCrypto: CryptoBackend<CryptoKey> = {
  importKey: (secret) =>
    subtle().importKey('raw', new Uint8Array(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']),
  async hmac(key, prefix, body) {
    return new Uint8Array(await subtle().sign('HMAC', key, concat(prefix, body)))
  },
  async sha256Hex(body) {
    return encodeHex(new Uint8Array(await subtle().digest('SHA-256', toBytes(body))))
  },
  decode: (body) => (typeof body === 'string' ? body : decoder.decode(body)),
}
