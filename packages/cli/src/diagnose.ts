import { createHash } from 'node:crypto'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { PROVIDERS, verifyWebhook, type HeadersInput, type Provider, type RejectionReason, type WebhookEvent } from '@pocketsflow-webhooks/core'
import { MAX_NESTING, nestsDeeperThan } from './depth.js'

export interface Finding {
  /** `ok`: something that checks out; `problem`: why it fails; `hint`: what to try. */
  readonly level: 'ok' | 'problem' | 'hint'
  readonly message: string
}

export interface Diagnosis {
  readonly verified: boolean
  readonly provider: Provider
  readonly reason?: RejectionReason
  /** The verified event, when it verified. */
  readonly event?: WebhookEvent
  readonly findings: readonly Finding[]
}

export interface DiagnoseOptions {
  readonly provider?: Provider
  readonly secret: string | readonly string[]
  readonly headers: HeadersInput
  readonly body: Uint8Array | string
  readonly tolerance?: number | false
  readonly now?: () => number
}

const SIGNATURE_HEADERS: Record<Provider, string> = {
  pocketsflow: 'x-pocketsflow-signature',
  pocketbook: 'x-webhook-signature',
  'standard-webhooks': 'webhook-signature',
}

/** Identifies a secret without revealing it: enough to tell two secrets apart. */
export function fingerprint(secret: string): string {
  return `sha256:${createHash('sha256').update(secret).digest('hex').slice(0, 8)}`
}

function header(headers: HeadersInput, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') return (headers as Headers).get(name) ?? undefined
  for (const [key, value] of Object.entries(headers as Record<string, unknown>)) {
    if (key.toLowerCase() === name) return Array.isArray(value) ? value.join(', ') : value == null ? undefined : String(value)
  }
  return undefined
}

const REASONS: Partial<Record<RejectionReason, string>> = {
  missing_signature: 'there is no signature header',
  invalid_signature_header: 'the signature header is not in the expected format',
  duplicate_header: 'a signature or timestamp header appears more than once',
  signature_mismatch: 'no configured secret produces this signature over these exact bytes',
  missing_timestamp: 'there is no timestamp header',
  invalid_timestamp: 'the timestamp header is not a plain epoch number',
  missing_webhook_id: 'the webhook-id header is missing',
  event_type_mismatch: 'the event type header names another event than the signed body',
  malformed_json: 'the signature is valid, but the body is not valid JSON',
  invalid_payload: 'the signature is valid, but the body is not a JSON object',
  missing_event_type: 'the signature is valid, but neither the body nor the headers name an event type',
}

/**
 * Explains why a captured delivery verifies or not: the reason the library gives, and which
 * common mistake would make it verify (secret with whitespace or without its prefix, a body that
 * was parsed and re-serialized, another sender's scheme, clock skew). Never includes the secret.
 * Safe on hostile input: it does not throw, and re-serializes only bodies up to RESERIALIZE_LIMIT
 * that nest at most MAX_NESTING levels deep.
 */
export async function diagnoseDelivery(options: DiagnoseOptions): Promise<Diagnosis> {
  const provider = options.provider ?? 'pocketsflow'
  const secrets = typeof options.secret === 'string' ? [options.secret] : [...options.secret]
  const base = { headers: options.headers, tolerance: options.tolerance ?? 300, ...(options.now ? { now: options.now } : {}) }
  // undefined when the options are unusable: verifyWebhook throws for some (an empty secret list) and rejects for others.
  const tryVerify = async (overrides: { provider?: Provider; secret?: string | string[]; body?: Uint8Array | string; tolerance?: number | false }) => {
    // Each attempt is an HMAC over the whole body, synchronous with node:crypto: a turn of the event
    // loop before each keeps a server (`listen`) answering while a diagnosis runs, and lets the
    // requests that arrive meanwhile see that one is running.
    await nextTurn()
    try {
      return await verifyWebhook({ ...base, provider, secret: secrets, body: options.body, ...overrides })
    } catch {
      return undefined
    }
  }

  const result = await tryVerify({})
  const findings: Finding[] = []
  if (result?.ok) {
    const { event } = result
    findings.push({ level: 'ok', message: `signature matches secret #${event.verification.secretIndex + 1} (${fingerprint(secrets[event.verification.secretIndex] as string)}), signed content: ${event.verification.signedContent}` })
    if (event.timestamp) findings.push({ level: 'ok', message: `timestamp ${event.timestamp.toISOString()}, ${skewText((options.now ?? Date.now)() - event.timestamp.getTime())}` })
    findings.push({ level: 'ok', message: `event ${event.type} (id ${event.id})` })
    return { verified: true, provider, event, findings }
  }
  if (!result) {
    return { verified: false, provider, findings: [{ level: 'problem', message: 'the secret is not usable for this provider (empty, or not base64 for standard-webhooks)' }] }
  }

  const reason = result.reason
  const skew = result.skewSeconds
  findings.push({
    level: 'problem',
    message:
      reason === 'timestamp_too_old' || reason === 'timestamp_in_future'
        ? `the timestamp is ${skewText((skew ?? 0) * 1000)}, outside the tolerance of ${base.tolerance === false ? '∞' : `${base.tolerance} s`}`
        : (REASONS[reason] ?? reason),
  })

  // Another sender's scheme?
  for (const other of PROVIDERS) {
    if (other === provider || header(options.headers, SIGNATURE_HEADERS[other]) === undefined) continue
    const verified = (await tryVerify({ provider: other }))?.ok
    findings.push({
      level: 'hint',
      message: verified
        ? `it verifies as a ${other} delivery: use --provider ${other}`
        : `the request carries ${other} headers (${SIGNATURE_HEADERS[other]}): is it a ${other} delivery? (--provider ${other})`,
    })
  }

  if (reason === 'timestamp_too_old' || reason === 'timestamp_in_future') {
    const signatureOk = (await tryVerify({ tolerance: false }))?.ok
    findings.push({
      level: signatureOk ? 'ok' : 'problem',
      message: signatureOk
        ? 'the signature itself is valid: this is a replay of an old delivery, or the clocks differ (check NTP; widen the tolerance if they must)'
        : 'the signature does not match either',
    })
    const raw = header(options.headers, provider === 'pocketsflow' ? 'x-pocketsflow-timestamp' : provider === 'standard-webhooks' ? 'webhook-timestamp' : '')
    if (provider !== 'pocketsflow' && raw && Number(raw) > 1e11) {
      findings.push({ level: 'hint', message: `the timestamp looks like milliseconds (${raw}); ${provider} sends seconds` })
    }
    return { verified: false, provider, reason, findings }
  }

  if (reason === 'invalid_signature_header' && provider === 'pocketsflow') {
    const value = header(options.headers, SIGNATURE_HEADERS.pocketsflow) ?? ''
    if (/^[0-9A-F]{64}$/i.test(value) && value !== value.toLowerCase()) {
      findings.push({ level: 'hint', message: 'the signature is upper-case hex; Pocketsflow sends lower-case (was the header rewritten?)' })
    } else if (/^(sha256=)/.test(value)) {
      findings.push({ level: 'hint', message: 'the signature has a "sha256=" prefix; Pocketsflow sends the bare hex digest' })
    } else if (/^[A-Za-z0-9+/]{43}=$/.test(value)) {
      findings.push({ level: 'hint', message: 'the signature looks like base64, not hex: is it a Standard Webhooks signature?' })
    } else {
      findings.push({ level: 'hint', message: `Pocketsflow signatures are 64 lower-case hex characters; this one has ${value.length} characters` })
    }
  }

  if (reason === 'signature_mismatch') {
    let explained = false
    // Secrets pasted with whitespace, or with/without the whsec_ prefix.
    for (const [i, secret] of secrets.entries()) {
      const variants: [string, string][] = []
      if (secret.trim() !== secret) variants.push([secret.trim(), `secret #${i + 1} has leading or trailing whitespace (a newline from the .env file?): the trimmed secret verifies`])
      if (secret.startsWith('whsec_')) variants.push([secret.slice(6), `secret #${i + 1} verifies without its "whsec_" prefix: the sender signs with the bare secret`])
      else variants.push([`whsec_${secret}`, `secret #${i + 1} verifies with a "whsec_" prefix: use the secret exactly as the dashboard shows it, prefix included`])
      for (const [variant, message] of variants) {
        if (variant.trim() !== '' && (await tryVerify({ secret: variant }))?.ok) {
          findings.push({ level: 'hint', message })
          explained = true
        }
      }
    }
    // A body that was parsed and re-serialized (or edited) before verification.
    const { text, candidates, untried } = bodyCandidates(options.body)
    for (const [label, build] of candidates) {
      const form = build()
      if (form === text) continue
      if ((await tryVerify({ body: form }))?.ok) {
        findings.push({
          level: 'hint',
          message: `the signature matches ${label}, not the bytes given: the body was re-serialized (or edited) before verification. Verify the raw request bytes`,
        })
        explained = true
        break
      }
    }
    if (!explained && untried) findings.push({ level: 'hint', message: untried })
    if (!explained) {
      findings.push({
        level: 'hint',
        message: `wrong secret (${secrets.map(fingerprint).join(', ')}), or the bytes differ from what was signed. Each webhook endpoint has its own secret: check you copied the one for this endpoint, and that the body is the raw request body`,
      })
    }
  }
  return { verified: false, provider, reason, findings }
}

/**
 * Re-serializing JSON costs a parse and up to five serializations, each followed by an HMAC: it is
 * tried only on bodies up to this size, so that a large hostile body costs no more than the
 * byte-level edits. Real webhook payloads are a few kilobytes.
 */
export const RESERIALIZE_LIMIT = 64 * 1024

/** A label and the form it names, built only when tried: the search stops at the first that verifies. */
type BodyCandidate = [label: string, build: () => string]

/**
 * The bodies the sender may have signed instead of the bytes given, most precise first, and why
 * the re-serialized JSON forms were left out when they were (too large, nested too deep).
 */
function bodyCandidates(body: Uint8Array | string): { text: string; candidates: BodyCandidate[]; untried?: string } {
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body)
  // Byte-level edits first: they are the more precise explanation when both would match.
  const candidates: BodyCandidate[] = [
    ['the body without its trailing newline', () => text.replace(/\r?\n$/, '')],
    ['the body with a trailing newline', () => `${text}\n`],
    ['the body with LF line endings', () => text.replace(/\r\n/g, '\n')],
  ]
  const size = typeof body === 'string' ? body.length : body.byteLength
  if (size > RESERIALIZE_LIMIT) {
    return { text, candidates, untried: `re-serialized JSON forms not tried: the body is ${Math.ceil(size / 1024)} KiB, over the ${RESERIALIZE_LIMIT / 1024} KiB the diagnosis re-serializes` }
  }
  const parsed = parseOrUndefined(text)
  if (parsed === undefined) return { text, candidates }
  if (nestsDeeperThan(parsed, MAX_NESTING)) {
    return { text, candidates, untried: `re-serialized JSON forms not tried: the body nests deeper than ${MAX_NESTING} levels` }
  }
  candidates.push(
    ['compact JSON (JSON.stringify)', () => JSON.stringify(parsed)],
    ['pretty-printed JSON (2 spaces)', () => JSON.stringify(parsed, null, 2)],
    ['pretty-printed JSON (4 spaces)', () => JSON.stringify(parsed, null, 4)],
    ['JSON with its keys sorted', () => JSON.stringify(sortKeys(parsed))],
    ["JSON with a space after each , and : (Python's json.dumps)", () => spacedJson(parsed)],
  )
  return { text, candidates }
}

function parseOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

function spacedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(spacedJson).join(', ')}]`
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${spacedJson(v)}`)
      .join(', ')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    )
  }
  return value
}

function skewText(ms: number): string {
  const s = Math.abs(ms) / 1000
  const amount = s < 120 ? `${s.toFixed(1)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`
  return ms >= 0 ? `${amount} old` : `${amount} in the future`
}
