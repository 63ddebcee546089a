import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import * as node from '../src/index.js'
import * as web from '../src/web.js'
import type { Provider } from '../src/types.js'

const SECRET = 'whsec_test_4f9a2c1d8e7b6a5f'
const NOW = Date.UTC(2026, 0, 15, 12, 0, 0)
const now = () => NOW
const ORDER = JSON.stringify({ event: 'order.completed', customer: { email: 'jane@example.com' }, order: { id: 'order_1' } })

const backends = [
  ['node:crypto', node],
  ['Web Crypto', web],
] as const

describe.each(backends)('verifyWebhook (%s)', (_name, api) => {
  const sign = (extra: Partial<Parameters<typeof api.signWebhook>[0]> = {}, body: string | Uint8Array = ORDER) =>
    api.signWebhook({ secret: SECRET, body, timestamp: NOW, type: 'order.completed', ...extra })
  const verify = (headers: Record<string, unknown> | Headers, body: string | Uint8Array = ORDER, extra: Record<string, unknown> = {}) =>
    api.verifyWebhook({ secret: SECRET, headers: headers as Record<string, string>, body, now, ...extra })

  it('accepts what signWebhook produced, with string and byte bodies', async () => {
    const headers = await sign()
    const result = await verify(headers)
    expect(result).toMatchObject({ ok: true })
    if (!result.ok) return
    expect(result.event.type).toBe('order.completed')
    expect(result.event.provider).toBe('pocketsflow')
    expect(result.event.timestamp?.getTime()).toBe(NOW)
    expect(result.event.verification).toEqual({ secretIndex: 0, signedContent: 'body' })
    expect(await verify(headers, new TextEncoder().encode(ORDER))).toMatchObject({ ok: true })
    expect(await verify(headers, Buffer.from(ORDER))).toMatchObject({ ok: true })
  })

  it('computes the same signature as a hand-written HMAC of the raw body', async () => {
    const headers = await sign()
    const { createHmac } = await import('node:crypto')
    expect(headers['X-Pocketsflow-Signature']).toBe(createHmac('sha256', SECRET).update(ORDER).digest('hex'))
    expect(headers['X-Pocketsflow-Timestamp']).toBe(String(NOW))
    expect(headers['X-Pocketsflow-Event']).toBe('order.completed')
  })

  it('derives the default id from the signed bytes alone, without revealing the signature', async () => {
    const { createHmac } = await import('node:crypto')
    const bodyMac = createHmac('sha256', SECRET).update(ORDER).digest()
    const expected = createHash('sha256').update(bodyMac).digest('hex')
    const signed = await sign()
    const result = await verify(signed)
    expect(result.ok && result.event.id).toBe(expected)
    expect(expected).not.toBe(signed['X-Pocketsflow-Signature'])
    // The same bytes get the same id whichever way they were signed or whichever secret matched.
    const viaTimestamp = await verify(await sign({ signedContent: 'timestamp.body' }))
    expect(viaTimestamp.ok && viaTimestamp.event.id).toBe(expected)
    const rotated = await api.verifyWebhook({
      secret: [SECRET, 'whsec_next'],
      headers: await api.signWebhook({ secret: 'whsec_next', body: ORDER, timestamp: NOW, type: 'order.completed' }),
      body: ORDER,
      now,
    })
    expect(rotated.ok && [rotated.event.verification.secretIndex, rotated.event.id]).toEqual([1, expected])
    // Different bytes, different id.
    const other = '{"event":"order.completed","n":2}'
    const differs = await verify(await sign({}, other), other)
    expect(differs.ok && differs.event.id).not.toBe(expected)
  })

  it('accepts timestamps in milliseconds and in seconds', async () => {
    expect(await verify(await sign({ timestampUnit: 's' }))).toMatchObject({ ok: true })
    expect(await verify(await sign({ timestampUnit: 'ms' }))).toMatchObject({ ok: true })
  })

  it('accepts the stronger `${timestamp}.${body}` signature and says which matched', async () => {
    const result = await verify(await sign({ signedContent: 'timestamp.body' }))
    expect(result.ok && result.event.verification.signedContent).toBe('timestamp.body')
  })

  it('tries every secret, for rotation, and reports which one matched', async () => {
    const headers = await sign()
    const result = await api.verifyWebhook({ secret: ['whsec_new_one', SECRET], headers, body: ORDER, now })
    expect(result.ok && result.event.verification.secretIndex).toBe(1)
    expect(await api.verifyWebhook({ secret: ['whsec_a', 'whsec_b'], headers, body: ORDER, now })).toEqual({
      ok: false,
      reason: 'signature_mismatch',
    })
  })

  it('reads fetch Headers and plain objects in any letter case', async () => {
    const headers = await sign()
    expect(await verify(new Headers(headers))).toMatchObject({ ok: true })
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))
    const upper = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toUpperCase(), v]))
    expect(await verify(lower)).toMatchObject({ ok: true })
    expect(await verify(upper)).toMatchObject({ ok: true })
    expect(await verify({ ...lower, 'x-pocketsflow-signature': [lower['x-pocketsflow-signature']] })).toMatchObject({ ok: true })
  })

  it('accepts only the lower-case hex that senders emit, so one signature has one spelling', async () => {
    const headers = await sign()
    headers['X-Pocketsflow-Signature'] = (headers['X-Pocketsflow-Signature'] as string).toUpperCase()
    expect(await verify(headers)).toEqual({ ok: false, reason: 'invalid_signature_header' })
  })

  describe('rejects bad signatures with a typed reason, never an exception', () => {
    const cases: [string, unknown, string][] = [
      ['missing', undefined, 'missing_signature'],
      ['empty', '', 'missing_signature'],
      ['too short', 'ab'.repeat(31), 'invalid_signature_header'],
      ['too long', 'ab'.repeat(33), 'invalid_signature_header'],
      ['not hex', 'zz'.repeat(32), 'invalid_signature_header'],
      ['multibyte', 'é'.repeat(64), 'invalid_signature_header'],
      ['emoji', '😀'.repeat(32), 'invalid_signature_header'],
      ['sha256= prefix', `sha256=${'ab'.repeat(32)}`, 'invalid_signature_header'],
      ['wrong but well-formed', 'ab'.repeat(32), 'signature_mismatch'],
      ['array of two', ['ab'.repeat(32), 'cd'.repeat(32)], 'duplicate_header'],
      ['empty array', [], 'missing_signature'],
      ['a number', 12345, 'invalid_signature_header'],
      ['an object', { toString: () => { throw new Error('boom') } }, 'missing_signature'],
    ]
    it.each(cases)('%s', async (_label, value, reason) => {
      const headers: Record<string, unknown> = { ...(await sign()) }
      delete headers['X-Pocketsflow-Signature']
      if (value !== undefined) headers['x-pocketsflow-signature'] = value
      expect(await verify(headers)).toEqual({ ok: false, reason })
    })

    it('the same header twice in two letter cases', async () => {
      const headers: Record<string, unknown> = { ...(await sign()) }
      headers['x-pocketsflow-signature'] = headers['X-Pocketsflow-Signature']
      headers['X-POCKETSFLOW-SIGNATURE'] = headers['X-Pocketsflow-Signature']
      delete headers['X-Pocketsflow-Signature']
      // an exact lower-case key wins (that is how Node delivers headers); here it is present
      expect(await verify(headers)).toMatchObject({ ok: true })
      delete headers['x-pocketsflow-signature']
      headers['X-Pocketsflow-Signature'] = headers['X-POCKETSFLOW-SIGNATURE']
      expect(await verify(headers)).toEqual({ ok: false, reason: 'duplicate_header' })
    })

    it('headers that are not an object at all', async () => {
      expect(await verify(null as never)).toEqual({ ok: false, reason: 'missing_signature' })
      expect(await verify('x' as never)).toEqual({ ok: false, reason: 'missing_signature' })
    })
  })

  describe('timestamps', () => {
    const withTimestamp = async (value: unknown) => {
      const headers: Record<string, unknown> = { ...(await sign()) }
      headers['X-Pocketsflow-Timestamp'] = value
      return verify(headers)
    }
    it.each(['abc', '123abc', 'NaN', '1e400', '-1', '1.5', '0x10', 'Infinity', '12345678901234567'])('rejects %j', async (value) => {
      expect(await withTimestamp(value)).toEqual({ ok: false, reason: 'invalid_timestamp' })
    })
    it('requires one (unless the check is disabled)', async () => {
      expect(await withTimestamp(undefined)).toEqual({ ok: false, reason: 'missing_timestamp' })
      expect(await withTimestamp('')).toEqual({ ok: false, reason: 'missing_timestamp' })
      expect(await withTimestamp([String(NOW), String(NOW)])).toEqual({ ok: false, reason: 'duplicate_header' })
    })
    it('rejects stale and future timestamps outside the default 300 s, both units', async () => {
      expect(await withTimestamp(String(NOW - 301_000))).toMatchObject({ ok: false, reason: 'timestamp_too_old', skewSeconds: 301 })
      expect(await withTimestamp(String(NOW + 301_000))).toMatchObject({ ok: false, reason: 'timestamp_in_future', skewSeconds: -301 })
      expect(await withTimestamp(String((NOW - 301_000) / 1000))).toMatchObject({ reason: 'timestamp_too_old' })
      expect(await withTimestamp(String(NOW - 299_000))).toMatchObject({ ok: true })
      expect(await withTimestamp(String((NOW + 299_000) / 1000))).toMatchObject({ ok: true })
    })
    it('has a configurable tolerance, and can be disabled', async () => {
      const headers: Record<string, unknown> = { ...(await sign()), 'X-Pocketsflow-Timestamp': String(NOW - 3_600_000) }
      expect(await verify(headers, ORDER, { tolerance: 3600 })).toMatchObject({ ok: true })
      expect(await verify(headers, ORDER, { tolerance: 3599 })).toMatchObject({ reason: 'timestamp_too_old' })
      expect(await verify(headers, ORDER, { tolerance: false })).toMatchObject({ ok: true })
      delete headers['X-Pocketsflow-Timestamp']
      expect(await verify(headers, ORDER, { tolerance: false })).toMatchObject({ ok: true })
    })
    it('checks the timestamp before spending an HMAC on the body', async () => {
      const headers: Record<string, unknown> = { ...(await sign()), 'X-Pocketsflow-Signature': 'ab'.repeat(32) }
      headers['X-Pocketsflow-Timestamp'] = String(NOW - 1_000_000)
      expect(await verify(headers)).toMatchObject({ reason: 'timestamp_too_old' })
    })
  })

  describe('payloads', () => {
    it('malformed JSON that is correctly signed is its own reason', async () => {
      const body = '{"event":"order.completed",'
      expect(await verify(await sign({}, body), body)).toEqual({ ok: false, reason: 'malformed_json' })
    })
    it.each(['[]', '"text"', '42', 'null'])('a signed body that is JSON but not an object (%s) is an untyped event, not refused', async (body) => {
      const result = await verify(await sign({}, body), body)
      expect(result.ok && [result.event.type, result.event.deliveredType, result.event.data]).toEqual(['unknown', '', JSON.parse(body)])
    })
    it('rejects a type header that contradicts the signed body', async () => {
      const headers = await sign({ type: 'order.refunded' })
      expect(await verify(headers)).toEqual({ ok: false, reason: 'event_type_mismatch' })
    })
    it('takes the type from the header when the body has none (vendor shape)', async () => {
      const body = JSON.stringify({ subscription: { id: 'sub_1' }, customer: { email: 'a@example.com' } })
      const result = await verify(await sign({ type: 'customer.subscription.updated' }, body), body)
      expect(result.ok && result.event.type).toBe('customer.subscription.updated')
    })
    it('takes a signed body without a type from the header or the body as an untyped event, not a refusal', async () => {
      const body = '{"customer":{}}'
      const result = await verify(await sign({ type: undefined }, body), body)
      expect(result.ok && [result.event.type, result.event.deliveredType, result.event.data]).toEqual(['unknown', '', { customer: {} }])
    })
    it('treats customer.subscription.pause and .paused as one event', async () => {
      const body = JSON.stringify({ event: 'customer.subscription.paused' })
      const result = await verify(await sign({ type: 'customer.subscription.pause' }, body), body)
      expect(result.ok && [result.event.type, result.event.deliveredType]).toEqual([
        'customer.subscription.paused',
        'customer.subscription.paused',
      ])
      const headerOnly = '{}'
      const r2 = await verify(await sign({ type: 'customer.subscription.pause' }, headerOnly), headerOnly)
      expect(r2.ok && [r2.event.type, r2.event.deliveredType]).toEqual(['customer.subscription.paused', 'customer.subscription.pause'])
    })
    it('accepts unknown event types as valid events', async () => {
      const body = '{"event":"payout.sent","amount":5}'
      const result = await verify(await sign({ type: 'payout.sent' }, body), body)
      expect(result.ok && result.event.type).toBe('payout.sent')
    })
    it('never lets __proto__ or constructor.prototype reach the payload', async () => {
      for (const body of [
        '{"event":"order.completed","__proto__":{"polluted":true},"nested":{"__proto__":{"polluted":true}}}',
        '{"event":"order.completed","\\u005f_proto__":{"polluted":true}}',
        '{"event":"order.completed","constructor":{"prototype":{"polluted":true}},"list":[{"__proto__":{"x":1}}]}',
      ]) {
        const result = await verify(await sign({}, body), body)
        expect(result.ok).toBe(true)
        if (!result.ok) continue
        const data = result.event.data as Record<string, unknown>
        const merged = Object.assign({}, data, data['nested'] as object)
        expect(Object.hasOwn(data, '__proto__')).toBe(false)
        expect(({} as Record<string, unknown>)['polluted']).toBeUndefined()
        expect((merged as Record<string, unknown>)['polluted']).toBeUndefined()
        expect(Object.hasOwn(data, 'constructor')).toBe(false)
      }
    })
    it('keeps a harmless field named constructor', async () => {
      const body = '{"event":"order.completed","constructor":"Jane"}'
      const result = await verify(await sign({}, body), body)
      expect(result.ok && (result.event.data as Record<string, unknown>)['constructor']).toBe('Jane')
    })
  })

  it('throws on configuration errors only, with a message that says what to fix', async () => {
    const headers = await sign()
    await expect(async () => api.verifyWebhook({ secret: '', headers, body: ORDER })).rejects.toThrow(/empty or whitespace/)
    await expect(async () => api.verifyWebhook({ secret: '  \n', headers, body: ORDER })).rejects.toThrow(/empty or whitespace/)
    await expect(async () => api.verifyWebhook({ secret: undefined, headers, body: ORDER })).rejects.toThrow(/POCKETSFLOW_WEBHOOK_SECRET/)
    await expect(async () => api.verifyWebhook({ secret: [], headers, body: ORDER })).rejects.toThrow(/secret/)
    await expect(async () => api.verifyWebhook({ secret: [SECRET, ' '], headers, body: ORDER })).rejects.toThrow(/secret\[1\]/)
    await expect(async () => api.verifyWebhook({ secret: SECRET, provider: 'stripe' as Provider, headers, body: ORDER })).rejects.toThrow(/unknown provider/)
    await expect(async () => api.verifyWebhook({ secret: SECRET, tolerance: -1, headers, body: ORDER })).rejects.toThrow(/tolerance/)
  })
})

describe.each(backends)('Pocketbook scheme (%s)', (_name, api) => {
  const T = Math.floor(NOW / 1000)
  const body = JSON.stringify({ id: 'evt_123', type: 'certificate.minted', created: T, data: { certificateId: 'c1', tokenId: '7' } })
  const verify = (headers: Record<string, string>, b = body, secret: string | string[] = SECRET) =>
    api.verifyWebhook({ provider: 'pocketbook', secret, headers, body: b, now })

  it('signs t=…,v1=… over `${t}.${body}` and verifies it', async () => {
    const headers = await api.signWebhook({ provider: 'pocketbook', secret: SECRET, body, timestamp: NOW })
    const { createHmac } = await import('node:crypto')
    const expected = createHmac('sha256', SECRET).update(`${T}.${body}`).digest('hex')
    expect(headers['X-Webhook-Signature']).toBe(`t=${T},v1=${expected}`)
    const result = await verify(headers)
    expect(result.ok && [result.event.id, result.event.type, result.event.data]).toEqual([
      'evt_123',
      'certificate.minted',
      { certificateId: 'c1', tokenId: '7' },
    ])
  })

  it('accepts any of several v1 entries and ignores unknown keys', async () => {
    const headers = await api.signWebhook({ provider: 'pocketbook', secret: SECRET, body, timestamp: NOW })
    const v1 = (headers['X-Webhook-Signature'] as string).split(',')[1]
    expect(await verify({ 'x-webhook-signature': `t=${T}, v1=${'00'.repeat(32)}, ${v1}, v0=abc` })).toMatchObject({ ok: true })
  })

  it.each([
    ['no t', `v1=${'ab'.repeat(32)}`, 'missing_timestamp'],
    ['two t', `t=${T},t=${T},v1=${'ab'.repeat(32)}`, 'invalid_signature_header'],
    ['no v1', `t=${T}`, 'invalid_signature_header'],
    ['bad v1', `t=${T},v1=xyz`, 'invalid_signature_header'],
    ['no equals', `t${T}`, 'invalid_signature_header'],
    ['garbage t', `t=12abc,v1=${'ab'.repeat(32)}`, 'invalid_timestamp'],
    ['stale t', `t=${T - 400},v1=${'ab'.repeat(32)}`, 'timestamp_too_old'],
    ['wrong mac', `t=${T},v1=${'ab'.repeat(32)}`, 'signature_mismatch'],
    ['too many entries', `t=${T},${Array(40).fill(`v1=${'ab'.repeat(32)}`).join(',')}`, 'invalid_signature_header'],
  ])('%s', async (_label, header, reason) => {
    expect(await verify({ 'x-webhook-signature': header })).toMatchObject({ ok: false, reason })
  })

  it('supports a previous secret as fallback', async () => {
    const headers = await api.signWebhook({ provider: 'pocketbook', secret: 'whsec_old', body, timestamp: NOW })
    const result = await verify(headers, body, [SECRET, 'whsec_old'])
    expect(result.ok && result.event.verification.secretIndex).toBe(1)
  })
})

describe.each(backends)('Standard Webhooks scheme (%s)', (_name, api) => {
  it('passes the public test vector', async () => {
    const result = await api.verifyWebhook({
      provider: 'standard-webhooks',
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      headers: {
        'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
        'webhook-timestamp': '1614265330',
        'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
      },
      body: '{"test": 2432232314}',
      now: () => 1614265330 * 1000,
    })
    // The vector's body has no `type`: authentic, so an untyped event, not a refusal.
    expect(result.ok && [result.event.type, result.event.id, result.event.data]).toEqual(['unknown', 'msg_p5jXN8AQM9LWM0D4loKWxJek', { test: 2432232314 }])
  })

  it('signs the test vector identically', async () => {
    const headers = await api.signWebhook({
      provider: 'standard-webhooks',
      secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
      timestamp: 1614265330 * 1000,
      body: '{"test": 2432232314}',
    })
    expect(headers['webhook-signature']).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=')
  })

  it('round-trips a typed payload, with the signed webhook-id as the event id', async () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
    const body = JSON.stringify({ type: 'invoice.paid', timestamp: '2026-01-01T00:00:00Z', data: { id: 'inv_1' } })
    const headers = await api.signWebhook({ provider: 'standard-webhooks', secret, body, id: 'msg_1', timestamp: NOW })
    const result = await api.verifyWebhook({ provider: 'standard-webhooks', secret, headers, body, now })
    expect(result.ok && [result.event.id, result.event.type, result.event.data]).toEqual(['msg_1', 'invoice.paid', { id: 'inv_1' }])
    const other = { ...headers, 'webhook-signature': `v1a,xyz v1,${'A'.repeat(43)}= ${headers['webhook-signature']}` }
    expect(await api.verifyWebhook({ provider: 'standard-webhooks', secret, headers: other, body, now })).toMatchObject({ ok: true })
    const tamperedId = { ...headers, 'webhook-id': 'msg_2' }
    expect(await api.verifyWebhook({ provider: 'standard-webhooks', secret, headers: tamperedId, body, now })).toMatchObject({
      reason: 'signature_mismatch',
    })
    const noId: Record<string, string> = { ...headers }
    delete noId['webhook-id']
    expect(await api.verifyWebhook({ provider: 'standard-webhooks', secret, headers: noId, body, now })).toMatchObject({
      reason: 'missing_webhook_id',
    })
  })

  it('refuses a secret that is not base64', async () => {
    await expect(async () =>
      api.verifyWebhook({ provider: 'standard-webhooks', secret: 'whsec_not base64!', headers: {}, body: '{}' }),
    ).rejects.toThrow(/base64/)
  })
})
