import type { CryptoBackend } from './crypto/backend.js'
import { createEvent, type VerificationDetail, type WebhookEvent } from './event.js'
import { isPlainObject, MALFORMED, parseJson } from './json.js'
import { isThenable, toUint8Array } from './realm.js'
import { schemeFor } from './schemes/index.js'
import type { Scheme, SignedHeaders } from './schemes/scheme.js'
import { checkTimestamp, validateTolerance } from './timestamp.js'
import type { Body, HeadersInput, Provider, RejectionReason } from './types.js'

export interface VerifyOptions {
  /** Signing secret(s). Several are tried in order, for rotation. */
  secret: string | readonly string[] | undefined
  provider?: Provider
  /** Seconds of clock difference allowed, both directions (default 300), or `false` to skip the check. */
  tolerance?: number | false
  /** Clock in epoch milliseconds, for tests. */
  now?: () => number
}

export type VerifyResult<E = WebhookEvent> =
  | { readonly ok: true; readonly event: E }
  | {
      readonly ok: false
      readonly reason: RejectionReason
      /** For logs only: how far off the timestamp was, when that is the reason. */
      readonly skewSeconds?: number
    }

/** Header-only outcome: either a rejection, or what the body check needs. */
export type HeaderCheck =
  | { readonly ok: true; readonly signed: SignedHeaders }
  | { readonly ok: false; readonly reason: RejectionReason; readonly skewSeconds?: number }

export interface Verifier {
  readonly provider: Provider
  /** Everything that can be decided from the headers alone (signature format, timestamp), no body needed. */
  checkHeaders(headers: HeadersInput): HeaderCheck
  /** Full verification. Never throws, whatever the input. */
  verify(headers: HeadersInput, body: Body): Promise<VerifyResult>
  /** Full verification after a successful `checkHeaders`, to avoid reading the headers twice. */
  verifyBody(signed: SignedHeaders, body: Body): Promise<VerifyResult>
}

export function normaliseSecrets(secret: unknown): string[] {
  const list = Array.isArray(secret) ? secret : [secret]
  if (list.length === 0) throw new TypeError('pocketsflow-webhooks: "secret" is required (got an empty list)')
  return list.map((s, i) => {
    const where = Array.isArray(secret) ? `secret[${i}]` : 'secret'
    if (typeof s !== 'string') {
      throw new TypeError(
        `pocketsflow-webhooks: "${where}" must be a string, got ${s === undefined ? 'undefined (is POCKETSFLOW_WEBHOOK_SECRET set?)' : typeof s}`,
      )
    }
    if (s.trim() === '') {
      throw new TypeError(`pocketsflow-webhooks: "${where}" is empty or whitespace; every request would be unverifiable`)
    }
    return s
  })
}

const ok = (signed: SignedHeaders): HeaderCheck => ({ ok: true, signed })

export function createVerifier<Key>(backend: CryptoBackend<Key>, options: VerifyOptions): Verifier {
  const scheme: Scheme = schemeFor(options.provider)
  const secrets = normaliseSecrets(options.secret)
  const tolerance = validateTolerance(options.tolerance)
  const now = options.now ?? Date.now
  const keyBytes = secrets.map((s) => scheme.keyFromSecret(s))
  // One frozen detail object per (secret, signed content) pair, shared by every event.
  const verifications = secrets.map((_, secretIndex) =>
    scheme.signedContentNames.map((signedContent) => Object.freeze({ secretIndex, signedContent })),
  )
  let keys: Key[] | undefined
  let keysPending: Promise<Key[]> | undefined
  const imported = keyBytes.map((k) => backend.importKey(k))
  // Node imports keys synchronously: they are ready before the first request.
  if (!imported.some(isThenable)) keys = imported as Key[]
  else keysPending = importAll(imported)

  function importAll(pending: (Key | Promise<Key>)[]): Promise<Key[]> {
    const all = Promise.all(pending)
    // A failed import is retried by the next request instead of failing every later one.
    all.then((k) => (keys = k)).catch(() => (keysPending = undefined))
    return all
  }

  async function loadKeys(): Promise<Key[]> {
    keysPending ??= importAll(keyBytes.map((k) => backend.importKey(k)))
    return keysPending
  }

  function checkHeaders(headers: HeadersInput): HeaderCheck {
    let signed: SignedHeaders | RejectionReason
    try {
      signed = scheme.readHeaders(headers)
    } catch {
      return { ok: false, reason: 'invalid_signature_header' }
    }
    if (typeof signed === 'string') return { ok: false, reason: signed }
    const nowMs = now()
    const reason = checkTimestamp(signed.timestampMs, tolerance, nowMs)
    if (reason === undefined) return ok(signed)
    if (reason === 'missing_timestamp') return { ok: false, reason }
    // Millisecond precision: "301" would hide that 300.4 s was just past a 300 s tolerance.
    return { ok: false, reason, skewSeconds: Math.round(nowMs - (signed.timestampMs as number)) / 1000 }
  }

  async function verifyBody(signed: SignedHeaders, input: Body): Promise<VerifyResult> {
    try {
      const body = typeof input === 'string' ? input : toUint8Array(input)
      if (body === undefined) return { ok: false, reason: 'invalid_payload' }
      const ks = keys ?? (await loadKeys())
      let secretIndex = -1
      let prefixIndex = 0
      let matched: Uint8Array | undefined
      search: for (; prefixIndex < signed.prefixes.length; prefixIndex++) {
        const prefix = signed.prefixes[prefixIndex] as string
        for (let k = 0; k < ks.length; k++) {
          const computed = backend.hmac(ks[k] as Key, prefix, body)
          const mac = isThenable(computed) ? await computed : computed
          for (const candidate of signed.signatures) {
            if (backend.equal(mac, candidate)) {
              secretIndex = k
              matched = mac
              break search
            }
          }
        }
      }
      if (matched === undefined) return { ok: false, reason: 'signature_mismatch' }

      const payload = parseJson(backend.decode(body))
      if (payload === MALFORMED) return { ok: false, reason: 'malformed_json' }
      if (!isPlainObject(payload)) return { ok: false, reason: 'invalid_payload' }
      const fields = scheme.eventFields(payload, signed)
      if (typeof fields === 'string') return { ok: false, reason: fields }

      let id = fields.id
      if (id === undefined) {
        // The default key identifies the signed bytes: HMAC-SHA256 of the body under the first
        // secret, which verification has usually just computed, hashed once more so the key
        // never reveals a signature (a logged signature could be replayed). Another full pass
        // over the body only when a later secret or the timestamp scheme matched.
        const bodyMac =
          secretIndex === 0 && signed.prefixes[prefixIndex] === '' ? matched : await backend.hmac(ks[0] as Key, '', body)
        const digest = backend.sha256Hex(bodyMac)
        id = typeof digest === 'string' ? digest : await digest
      }

      const event = createEvent({
        id,
        type: fields.type,
        deliveredType: fields.deliveredType,
        data: fields.data,
        payload,
        provider: scheme.provider,
        timestampMs: signed.timestampMs,
        verification: (verifications[secretIndex] as VerificationDetail[])[prefixIndex] as VerificationDetail,
      })
      return { ok: true, event }
    } catch {
      // Nothing above should throw; if a runtime quirk makes it, the delivery is unverifiable, not a crash.
      return { ok: false, reason: 'signature_mismatch' }
    }
  }

  return {
    provider: scheme.provider,
    checkHeaders,
    verifyBody,
    // Not `async`: returning verifyBody's promise directly saves a promise layer per request.
    verify(headers, body) {
      const check = checkHeaders(headers)
      return check.ok ? verifyBody(check.signed, body) : Promise.resolve(check)
    },
  }
}
