// Strict decoders for signature values. Node's Buffer.from(…, 'hex') silently stops at the first bad
// character, which would turn a garbled signature into a short one; these reject instead.

// Lower-case only, as every sender emits: accepting A-F too would let two different signature
// strings verify as one. A table lookup per character: this runs on every request.
const NIBBLE = new Int8Array(128).fill(-1)
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i
for (let i = 0; i < 6; i++) NIBBLE[97 + i] = 10 + i

/** Decodes an even-length lower-case hex string; undefined if any character is not. */
export function decodeHex(text: string): Uint8Array | undefined {
  if (text.length % 2 !== 0) return undefined
  const out = new Uint8Array(text.length >> 1)
  for (let i = 0, j = 0; i < out.length; i++, j += 2) {
    const hi = NIBBLE[text.charCodeAt(j) & 127] as number
    const lo = NIBBLE[text.charCodeAt(j + 1) & 127] as number
    // `& 127` folds non-ASCII onto ASCII; the range check below rejects them.
    if ((hi | lo) < 0 || text.charCodeAt(j) > 127 || text.charCodeAt(j + 1) > 127) return undefined
    out[i] = (hi << 4) | lo
  }
  return out
}

/**
 * Constant-time comparison of two byte strings (`false` at once for different lengths: a
 * signature's length is not secret). No branch depends on the bytes. Used for both runtimes rather
 * than node:crypto's timingSafeEqual, which for a small Uint8Array made in JavaScript (the decoded
 * signature) first has V8 move the array's bytes off the JavaScript heap: that costs several
 * times the comparison itself, on every request.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number)
  return diff === 0
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * Decodes canonical padded base64; undefined if it is not. Canonical means the unused low bits of
 * the last character are zero: otherwise several different signature strings would decode to the
 * same bytes, and a changed signature could still verify.
 */
export function decodeBase64(text: string): Uint8Array | undefined {
  const out = decodeBase64Lenient(text)
  return out && encodeBase64(out) === text ? out : undefined
}

/** Padded base64 with any padding bits: for secrets, which people paste, not for signatures. */
export function decodeBase64Lenient(text: string): Uint8Array | undefined {
  if (!BASE64.test(text)) return undefined
  const binary = atob(text)
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}

export function encodeBase64(bytes: Uint8Array): string {
  let binary = ''
  for (const b of bytes) binary += String.fromCharCode(b)
  return btoa(binary)
}

export function encodeHex(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += (b < 16 ? '0' : '') + b.toString(16)
  return s
}

const encoder = new TextEncoder()
export const utf8 = (text: string): Uint8Array => encoder.encode(text)
