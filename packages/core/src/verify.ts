import type { CryptoBackend } from './crypto/backend.js'
import { equalBytes } from './encoding.js'
import { createEvent, UNTYPED, type VerificationDetail, type WebhookEvent } from './event.js'
import { isPlainObject, MALFORMED, parseJson } from './json.js'
import { isThenable, toUint8Array, type MaybePromise } from './realm.js'
import { schemeFor } from './schemes/index.js'
import type { PayloadFields, Scheme, SignedHeaders } from './schemes/scheme.js'
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

function untypedFields(payload: unknown, signed: SignedHeaders): PayloadFields {
  return { type: UNTYPED, deliveredType: '', data: payload, id: signed.id }
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

/** What the receiver gets: also the JSON text the payload was parsed from (an inbox stores it as is). */
export type ReceivedResult = Exclude<VerifyResult, { ok: true }> | { readonly ok: true; readonly event: WebhookEvent; readonly payloadText: string }

/** The verifier the receiver uses: the `…Now` methods skip the promise when the backend is synchronous. */
export interface CoreVerifier extends Verifier {
  verifyNow(headers: HeadersInput, body: Body): MaybePromise<ReceivedResult>
  verifyBodyNow(signed: SignedHeaders, body: Body): MaybePromise<ReceivedResult>
}

/** The public result: the payload text stays the receiver's business. */
function published(result: ReceivedResult): VerifyResult {
  return result.ok ? { ok: true, event: result.event } : result
}

interface Match {
  readonly secretIndex: number
  readonly prefixIndex: number
  readonly mac: Uint8Array
}

// Something threw that nothing should (a runtime quirk): the delivery is unverifiable, not a crash.
const UNVERIFIABLE: ReceivedResult = /* @__PURE__ */ Object.freeze({ ok: false, reason: 'signature_mismatch' })

export function createVerifier<Key>(backend: CryptoBackend<Key>, options: VerifyOptions): CoreVerifier {
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

  function verifyNow(headers: HeadersInput, body: Body): MaybePromise<ReceivedResult> {
    const check = checkHeaders(headers)
    return check.ok ? verifyBodyNow(check.signed, body) : check
  }

  /**
   * Full verification, synchronous whenever the backend is (node:crypto always is): the receiver
   * answers most deliveries without a promise. Never throws, and a returned promise never rejects.
   */
  function verifyBodyNow(signed: SignedHeaders, input: Body): MaybePromise<ReceivedResult> {
    let result: MaybePromise<ReceivedResult>
    try {
      const body = typeof input === 'string' ? input : toUint8Array(input)
      if (body === undefined) return { ok: false, reason: 'invalid_payload' }
      result = keys ? withKeys(keys, signed, body) : loadKeys().then((ks) => withKeys(ks, signed, body))
    } catch {
      return UNVERIFIABLE
    }
    return isThenable(result) ? Promise.resolve(result).catch(() => UNVERIFIABLE) : result
  }

  function withKeys(ks: Key[], signed: SignedHeaders, body: string | Uint8Array): MaybePromise<ReceivedResult> {
    const match = findMatch(ks, signed, body, 0, 0)
    return isThenable(match) ? match.then((found) => toEvent(ks, signed, body, found)) : toEvent(ks, signed, body, match)
  }

  /** The first (signed content, secret) pair whose HMAC is one of the signatures, resuming at (prefixIndex, k). */
  function findMatch(ks: Key[], signed: SignedHeaders, body: string | Uint8Array, prefixIndex: number, k: number): Match | undefined | Promise<Match | undefined> {
    for (; prefixIndex < signed.prefixes.length; prefixIndex++, k = 0) {
      const prefix = signed.prefixes[prefixIndex] as string
      for (; k < ks.length; k++) {
        const computed = backend.hmac(ks[k] as Key, prefix, body)
        if (isThenable(computed)) {
          const p = prefixIndex
          const s = k
          return computed.then((mac) => (matches(mac, signed) ? { secretIndex: s, prefixIndex: p, mac } : findMatch(ks, signed, body, p, s + 1)))
        }
        if (matches(computed, signed)) return { secretIndex: k, prefixIndex, mac: computed }
      }
    }
    return undefined
  }

  function matches(mac: Uint8Array, signed: SignedHeaders): boolean {
    for (const candidate of signed.signatures) if (equalBytes(mac, candidate)) return true
    return false
  }

  function toEvent(ks: Key[], signed: SignedHeaders, body: string | Uint8Array, match: Match | undefined): MaybePromise<ReceivedResult> {
    if (match === undefined) return { ok: false, reason: 'signature_mismatch' }
    const text = backend.decode(body)
    const payload = parseJson(text)
    if (payload === MALFORMED) return { ok: false, reason: 'malformed_json' }
    // Authentic JSON that is not an object is still a delivery the sender will not repeat: kept,
    // untyped, rather than refused for its shape.
    const fields = isPlainObject(payload) ? scheme.eventFields(payload, signed) : untypedFields(payload, signed)
    if (typeof fields === 'string') return { ok: false, reason: fields }
    if (fields.id !== undefined) return { ok: true, event: eventOf(fields.id, fields, payload, signed, match), payloadText: text }
    // The default key identifies the signed bytes: HMAC-SHA256 of the body under the first
    // secret, which verification has usually just computed, hashed once more so the key never
    // reveals a signature (a logged signature could be replayed). Another full pass over the body
    // only when a later secret or the timestamp scheme matched.
    const bodyMac = match.secretIndex === 0 && signed.prefixes[match.prefixIndex] === '' ? match.mac : backend.hmac(ks[0] as Key, '', body)
    const digest = isThenable(bodyMac) ? bodyMac.then((mac) => backend.sha256Hex(mac)) : backend.sha256Hex(bodyMac)
    if (typeof digest === 'string') return { ok: true, event: eventOf(digest, fields, payload, signed, match), payloadText: text }
    return Promise.resolve(digest).then((id) => ({ ok: true, event: eventOf(id, fields, payload, signed, match), payloadText: text }))
  }

  function eventOf(id: string, fields: PayloadFields, payload: unknown, signed: SignedHeaders, match: Match): WebhookEvent {
    return createEvent({
      id,
      type: fields.type,
      deliveredType: fields.deliveredType,
      data: fields.data,
      payload,
      provider: scheme.provider,
      timestampMs: signed.timestampMs,
      verification: (verifications[match.secretIndex] as VerificationDetail[])[match.prefixIndex] as VerificationDetail,
    })
  }

  return {
    provider: scheme.provider,
    checkHeaders,
    verifyNow,
    verifyBodyNow,
    verify: async (headers, body) => published(await verifyNow(headers, body)),
    verifyBody: async (signed, body) => published(await verifyBodyNow(signed, body)),
  }
}
