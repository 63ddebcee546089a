import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as node from '../src/index.js'
import * as web from '../src/web.js'
import type { Provider, RejectionReason } from '../src/types.js'

const NOW = Date.UTC(2026, 5, 1)
const now = () => NOW
const PROVIDERS: Provider[] = ['pocketsflow', 'pocketbook', 'standard-webhooks']
// Secrets as each sender issues them; standard-webhooks keys are base64.
const secretArb = (provider: Provider) =>
  provider === 'standard-webhooks'
    ? fc.uint8Array({ minLength: 1, maxLength: 48 }).map((b) => `whsec_${Buffer.from(b).toString('base64')}`)
    : fc.string({ minLength: 1, maxLength: 64 }).filter((s) => s.trim() !== '')

// Reasons that mean "the signature was fine, the payload was not an event we can build".
const PAYLOAD_REASONS: RejectionReason[] = ['malformed_json', 'invalid_payload', 'missing_event_type', 'event_type_mismatch']

function payloadFor(provider: Provider, data: unknown) {
  if (provider === 'pocketbook') return { id: 'evt_1', type: 'voucher.created', created: NOW / 1000, data }
  if (provider === 'standard-webhooks') return { type: 'invoice.paid', timestamp: 'x', data }
  return { event: 'order.completed', data }
}

describe.each([
  ['node:crypto', node],
  ['Web Crypto', web],
] as const)('properties (%s)', (_name, api) => {
  const runs = { numRuns: 150 }

  it.each(PROVIDERS)('verify(sign(x)) holds for any JSON event and any secret (%s)', async (provider) => {
    await fc.assert(
      fc.asyncProperty(secretArb(provider), fc.jsonValue(), fc.boolean(), async (secret, data, asBytes) => {
        const text = JSON.stringify(payloadFor(provider, data))
        const body = asBytes ? new TextEncoder().encode(text) : text
        const headers = await api.signWebhook({ provider, secret, body, timestamp: NOW, type: 'order.completed' })
        const result = await api.verifyWebhook({ provider, secret, headers, body, now })
        expect(result.ok).toBe(true)
      }),
      runs,
    )
  })

  it.each(PROVIDERS)('any body bytes that were signed pass the signature check (%s)', async (provider) => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (body) => {
        const secret = provider === 'standard-webhooks' ? 'whsec_c2VjcmV0' : 'whsec_secret'
        const headers = await api.signWebhook({ provider, secret, body, timestamp: NOW })
        const result = await api.verifyWebhook({ provider, secret, headers, body, now })
        if (!result.ok) expect(PAYLOAD_REASONS).toContain(result.reason)
      }),
      runs,
    )
  })

  it.each(PROVIDERS)('changing any single byte of the body fails verification (%s)', async (provider) => {
    await fc.assert(
      fc.asyncProperty(
        fc.jsonValue(),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (data, at, delta) => {
          const secret = provider === 'standard-webhooks' ? 'whsec_c2VjcmV0' : 'whsec_secret'
          const body = new TextEncoder().encode(JSON.stringify(payloadFor(provider, data)))
          const headers = await api.signWebhook({ provider, secret, body, timestamp: NOW, type: 'order.completed' })
          const tampered = body.slice()
          const i = at % tampered.length
          tampered[i] = ((tampered[i] as number) + delta) % 256
          const result = await api.verifyWebhook({ provider, secret, headers, body: tampered, now })
          expect(result).toEqual({ ok: false, reason: 'signature_mismatch' })
        },
      ),
      runs,
    )
  })

  it.each(PROVIDERS)('changing any single character of the signature fails verification (%s)', async (provider) => {
    const signatureHeader = { pocketsflow: 'X-Pocketsflow-Signature', pocketbook: 'X-Webhook-Signature', 'standard-webhooks': 'webhook-signature' }[provider]
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.string({ minLength: 1, maxLength: 1 }), async (at, replacement) => {
        const secret = provider === 'standard-webhooks' ? 'whsec_c2VjcmV0' : 'whsec_secret'
        const body = JSON.stringify(payloadFor(provider, { n: at }))
        const headers = await api.signWebhook({ provider, secret, body, timestamp: NOW, type: 'order.completed' })
        const original = headers[signatureHeader] as string
        // Only the signature itself, not the t=/v1, labels around it.
        const start = provider === 'pocketsflow' ? 0 : original.lastIndexOf(provider === 'pocketbook' ? '=' : ',') + 1
        const i = start + (at % (original.length - start))
        fc.pre(original[i] !== replacement)
        const changed = original.slice(0, i) + replacement + original.slice(i + 1)
        const result = await api.verifyWebhook({ provider, secret, headers: { ...headers, [signatureHeader]: changed }, body, now })
        expect(result.ok).toBe(false)
      }),
      runs,
    )
  })

  it.each(PROVIDERS)('changing any single character of the secret fails verification (%s)', async (provider) => {
    await fc.assert(
      fc.asyncProperty(secretArb(provider), fc.nat(), fc.integer({ min: 1, max: 60 }), async (secret, at, delta) => {
        const body = JSON.stringify(payloadFor(provider, { at }))
        const headers = await api.signWebhook({ provider, secret, body, timestamp: NOW, type: 'order.completed' })
        const prefix = provider === 'standard-webhooks' ? 6 : 0
        const i = prefix + (at % (secret.length - prefix))
        const code = secret.charCodeAt(i)
        let other: string
        if (provider === 'standard-webhooks') {
          // stay within the base64 alphabet so the wrong secret is still a usable one
          const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
          const pos = alphabet.indexOf(secret[i] as string)
          fc.pre(pos >= 0)
          other = secret.slice(0, i) + alphabet[(pos + delta) % 64] + secret.slice(i + 1)
          let wrongKey: Uint8Array | undefined
          try {
            wrongKey = Buffer.from(other.slice(6), 'base64')
          } catch {}
          // a change in base64 padding bits can decode to the same key: not a different secret
          fc.pre(wrongKey !== undefined && !Buffer.from(secret.slice(6), 'base64').equals(Buffer.from(wrongKey)))
          fc.pre(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(other.slice(6)))
        } else {
          other = secret.slice(0, i) + String.fromCharCode((code + delta) % 0xd800 || 1) + secret.slice(i + 1)
          fc.pre(other.trim() !== '' && other !== secret)
        }
        const result = await api.verifyWebhook({ provider, secret: other, headers, body, now })
        expect(result).toEqual({ ok: false, reason: 'signature_mismatch' })
      }),
      runs,
    )
  })
})

// Anything a client can put on the wire, header values included.
const headerValue = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 60, maxLength: 68 }),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.integer(),
  fc.constantFrom(undefined, null, '', 'NaN', '1e400', '123abc', `t=1,v1=${'a'.repeat(64)}`, `v1,${'A'.repeat(44)}`),
)
const headerName = fc.oneof(
  fc.constantFrom(
    'x-pocketsflow-signature',
    'X-Pocketsflow-Signature',
    'x-pocketsflow-timestamp',
    'x-pocketsflow-event',
    'x-webhook-signature',
    'webhook-id',
    'webhook-timestamp',
    'webhook-signature',
    '__proto__',
    'constructor',
    'get',
  ),
  fc.string(),
)
const headersArb = fc.dictionary(headerName, headerValue, { maxKeys: 8 })
const bodyArb = fc.oneof(fc.string(), fc.uint8Array({ maxLength: 256 }), fc.json(), fc.constantFrom('', '{}', '{"__proto__":{}}'))

describe('nothing a sender sends makes verify or the receiver throw', () => {
  it.each(PROVIDERS)('verifyWebhook (%s)', async (provider) => {
    const secret = provider === 'standard-webhooks' ? 'whsec_c2VjcmV0' : 'whsec_secret'
    await fc.assert(
      fc.asyncProperty(headersArb, bodyArb, async (headers, body) => {
        for (const api of [node, web]) {
          const result = await api.verifyWebhook({ provider, secret, headers: headers as never, body, now })
          expect(typeof result.ok).toBe('boolean')
          if (!result.ok) expect(typeof result.reason).toBe('string')
        }
      }),
      { numRuns: 300 },
    )
  })

  it.each(PROVIDERS)('createWebhookReceiver().handle answers a 2xx/4xx, never a 5xx (%s)', async (provider) => {
    const secret = provider === 'standard-webhooks' ? 'whsec_c2VjcmV0' : 'whsec_secret'
    const receiver = node.createWebhookReceiver({ provider, secret, logger: false, retry: false, now })
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('POST', 'GET', 'post', undefined, ''),
        headersArb,
        bodyArb,
        async (method, headers, body) => {
          const result = await receiver.handle({ method, headers: headers as never, body })
          expect([200, 400, 401, 405, 413]).toContain(result.response.status)
          await result.after?.()
        },
      ),
      { numRuns: 300 },
    )
  })

  it('signed deliveries with arbitrary JSON still never make the receiver answer 5xx', async () => {
    const secret = 'whsec_secret'
    const receiver = node.createWebhookReceiver({ secret, logger: false, retry: false, onEvent: () => {} })
    await fc.assert(
      fc.asyncProperty(fc.json(), fc.option(fc.string()), async (json, type) => {
        const headers = await node.signWebhook({ secret, body: json, ...(type === null ? {} : { type }) })
        const result = await receiver.handle({ method: 'POST', headers, body: json })
        expect([200, 400, 401]).toContain(result.response.status)
        await result.after?.()
      }),
      { numRuns: 300 },
    )
  })
})
