// SHA-256 (FIPS 180-4) in plain JavaScript, for the web backend's short hashes: the event id
// derived from a signature's MAC (32 bytes), on every delivery, and over-long dedupe keys up to
// 4 KiB. crypto.subtle.digest would do, but on Node.js each subtle call is a round trip through the
// thread pool that costs as much as the signature check itself (measured: bench/web), and these
// inputs take a microsecond or two here. Longer inputs go to crypto.subtle (crypto/web.ts).
// Node's own entry keeps node:crypto; the two give the same digests (test/sha256.test.ts).

/**
 * The round constants: the first 32 bits of the fractional parts of the cube roots of the first 64
 * primes. Computed rather than listed (the table would add a tenth to a Worker's verify-only
 * bundle), and exactly: the float estimate is corrected in integers, so no engine's Math.cbrt
 * rounding can change a bit.
 */
function roundConstants(): Uint32Array {
  const k = new Uint32Array(64)
  for (let n = 2, i = 0; i < 64; n++) {
    let prime = true
    for (let d = 2; d * d <= n; d++) if (n % d === 0) prime = false
    if (!prime) continue
    const cube = BigInt(n) << 96n // n · 2^96: its integer cube root is ∛n · 2^32, rounded down
    let root = BigInt(Math.floor(Math.cbrt(n) * 2 ** 32))
    while ((root + 1n) ** 3n <= cube) root++
    while (root ** 3n > cube) root--
    k[i++] = Number(root & 0xffffffffn)
  }
  return k
}

const K = /* @__PURE__ */ roundConstants()

/** The first 32 bits of the fractional parts of the square roots of the first 8 primes. */
const INITIAL = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]

const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n))

/** The SHA-256 digest of `message`. */
export function sha256(message: Uint8Array): Uint8Array {
  // The message, a 1 bit, zeros, and its length in bits (64-bit big-endian), to a multiple of 64 bytes.
  const blocks = new Uint8Array(((message.length + 8) >> 6) * 64 + 64)
  blocks.set(message)
  blocks[message.length] = 0x80
  const view = new DataView(blocks.buffer)
  view.setUint32(blocks.length - 8, Math.floor(message.length / 0x20000000))
  view.setUint32(blocks.length - 4, (message.length * 8) >>> 0)

  const hash = Uint32Array.from(INITIAL)
  const w = new Uint32Array(64)
  for (let offset = 0; offset < blocks.length; offset += 64) {
    for (let t = 0; t < 16; t++) w[t] = view.getUint32(offset + t * 4)
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15] as number
      const y = w[t - 2] as number
      w[t] = (w[t - 16] as number) + (rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3)) + (w[t - 7] as number) + (rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10))
    }
    let [a, b, c, d, e, f, g, h] = hash as unknown as [number, number, number, number, number, number, number, number]
    for (let t = 0; t < 64; t++) {
      const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + (K[t] as number) + (w[t] as number)) | 0
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0
      h = g
      g = f
      f = e
      e = (d + t1) | 0
      d = c
      c = b
      b = a
      a = (t1 + t2) | 0
    }
    // Uint32Array stores wrap modulo 2^32.
    hash[0] = (hash[0] as number) + a
    hash[1] = (hash[1] as number) + b
    hash[2] = (hash[2] as number) + c
    hash[3] = (hash[3] as number) + d
    hash[4] = (hash[4] as number) + e
    hash[5] = (hash[5] as number) + f
    hash[6] = (hash[6] as number) + g
    hash[7] = (hash[7] as number) + h
  }
  const digest = new Uint8Array(32)
  const out = new DataView(digest.buffer)
  for (let i = 0; i < 8; i++) out.setUint32(i * 4, hash[i] as number)
  return digest
}
