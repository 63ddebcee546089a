/** Body bytes as the backends take them (an ArrayBuffer is wrapped before it gets here). */
export type BackendBody = string | Uint8Array
type Body = BackendBody

/**
 * The only operations that differ between Node.js (node:crypto) and runtimes that only have
 * Web Crypto (Next.js Edge, workers). Everything else in the pipeline is shared, so the two entry
 * points cannot drift apart.
 *
 * Node's implementation answers synchronously; the Web one returns promises. Callers `await`
 * either way.
 */
export interface CryptoBackend<Key = unknown> {
  /** Prepares an HMAC-SHA256 key once, so requests don't re-import it. */
  importKey(secret: Uint8Array): Key | Promise<Key>
  /** HMAC-SHA256 over `prefix` followed by `body`, without concatenating them first where possible. */
  hmac(key: Key, prefix: string, body: Body): Uint8Array | Promise<Uint8Array>
  /** Lower-case hex SHA-256: of a MAC (the default event id), of an over-long dedupe key (any length). */
  sha256Hex(body: Body): string | Promise<string>
  /** UTF-8 decode of the verified body, for JSON parsing. */
  decode(body: Body): string
}
