import { describe, expect, it } from 'vitest'
import { POCKETBOOK_EVENT_TYPES, POCKETSFLOW_EVENT_TYPES, verifyWebhook } from '../../src/index.js'
import { generateSecret, rejectedDeliveries, signedRequest } from '../../src/testing/index.js'

describe('signedRequest', () => {
  it.each(POCKETSFLOW_EVENT_TYPES)('builds a delivery of %s that the verifier accepts', async (type) => {
    const secret = generateSecret()
    const request = await signedRequest({ secret, type })
    const result = await verifyWebhook({ secret, headers: request.headers, body: request.body })
    expect(result.ok && result.event.type).toBe(type)
    expect(request.headers['X-Pocketsflow-Event']).toBe(type)
  })

  it('builds the vendor sample shape, with the type in the header only', async () => {
    const secret = generateSecret()
    const request = await signedRequest({ secret, type: 'invoice.payment_succeeded', shape: 'vendor' })
    expect(JSON.parse(request.body)).not.toHaveProperty('event')
    const result = await verifyWebhook({ secret, headers: request.headers, body: request.body })
    expect(result.ok && result.event.type).toBe('invoice.payment_succeeded')
  })

  it.each(POCKETBOOK_EVENT_TYPES)('builds a Pocketbook delivery of %s', async (type) => {
    const secret = generateSecret('pocketbook')
    const request = await signedRequest({ provider: 'pocketbook', secret, type })
    const result = await verifyWebhook({ provider: 'pocketbook', secret, headers: request.headers, body: request.body })
    expect(result.ok && [result.event.type, result.event.id]).toEqual([type, JSON.parse(request.body).id])
  })

  it('builds Standard Webhooks deliveries with a base64 secret', async () => {
    const secret = generateSecret('standard-webhooks')
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/)
    const request = await signedRequest({ provider: 'standard-webhooks', secret, type: 'user.created', overrides: { id: 'u1' } })
    const result = await verifyWebhook({ provider: 'standard-webhooks', secret, headers: request.headers, body: request.body })
    expect(result.ok && [result.event.type, result.event.data]).toEqual(['user.created', { id: 'u1' }])
  })

  it('signs unknown types, exact bodies, overrides and old timestamps', async () => {
    const secret = generateSecret()
    const unknown = await signedRequest({ secret, type: 'payout.sent', overrides: { amount: 5 } })
    expect(JSON.parse(unknown.body)).toMatchObject({ event: 'payout.sent', amount: 5 })
    expect((await verifyWebhook({ secret, headers: unknown.headers, body: unknown.body })).ok).toBe(true)

    const exact = await signedRequest({ secret, type: 'order.completed', body: '{"event":"order.completed"}' })
    expect(exact.body).toBe('{"event":"order.completed"}')

    const stale = await signedRequest({ secret, type: 'order.completed', timestamp: Date.now() - 3_600_000 })
    expect(await verifyWebhook({ secret, headers: stale.headers, body: stale.body })).toMatchObject({ reason: 'timestamp_too_old' })

    const override = await signedRequest({ secret, type: 'order.completed', overrides: { amount: 1500 } })
    expect(JSON.parse(override.body).amount).toBe(1500)
  })

  it('generates distinct secrets', () => {
    expect(generateSecret()).not.toBe(generateSecret())
    expect(generateSecret()).toMatch(/^whsec_[0-9a-f]{48}$/)
  })

  it('rejectedDeliveries: each is refused by the verifier for the reason it names', async () => {
    const secret = generateSecret()
    const cases = await rejectedDeliveries({ secret })
    expect(cases.map((c) => c.label)).toHaveLength(9)
    for (const c of cases) {
      const result = await verifyWebhook({ secret, headers: c.request.headers, body: c.request.body })
      expect([c.label, result]).toEqual([c.label, { ok: false, reason: c.reason, ...(result.ok ? {} : result.skewSeconds === undefined ? {} : { skewSeconds: expect.any(Number) }) }])
    }
  })
})
