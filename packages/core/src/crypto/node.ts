import * as crypto from 'node:crypto'
import { createHash, createHmac } from 'node:crypto'
import type { BackendBody as Body, CryptoBackend } from './backend.js'

export const nodeCrypto: CryptoBackend<Uint8Array> = {
  // Raw key bytes: createHmac takes them as they are, and a KeyObject per verifier costs more than it saves.
  importKey: (secret) => secret,
  hmac(key, prefix, body) {
    const mac = createHmac('sha256', key)
    if (prefix.length > 0) mac.update(prefix)
    return mac.update(body).digest()
  },
  // crypto.hash (Node >= 20.12) skips the Hash object: most of the cost for short inputs.
  sha256Hex: typeof crypto.hash === 'function' ? (body) => crypto.hash('sha256', body, 'hex') : (body) => createHash('sha256').update(body).digest('hex'),
  decode: (body: Body) =>
    typeof body === 'string'
      ? body
      : Buffer.isBuffer(body)
        ? body.toString('utf8')
        : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'),
}
