import { readFileSync } from 'node:fs'
import { afterEach, describe, it, expect, expectTypeOf, vi } from 'vitest'
import {
  POCKETSFLOW_EVENT_TYPES,
  type InvoiceEventData,
  type OrderCompletedData,
  type PocketsflowEventType,
  type SubscriptionEventData,
} from '../../src/events/pocketsflow.js'
import {
  POCKETBOOK_EVENT_TYPES,
  type BulkJobCompletedData,
  type PocketbookEnvelope,
} from '../../src/events/pocketbook.js'
import { samplePocketbookEnvelope, samplePocketsflowPayload, sampleStandardWebhooksPayload } from '../../src/testing/samples.js'

type SubscriptionType = Extract<PocketsflowEventType, `customer.subscription.${string}`>
type InvoiceType = Extract<PocketsflowEventType, `invoice.${string}`>
const SUBSCRIPTION_TYPES = POCKETSFLOW_EVENT_TYPES.filter((t): t is SubscriptionType => t.startsWith('customer.subscription.'))
const INVOICE_TYPES = POCKETSFLOW_EVENT_TYPES.filter((t): t is InvoiceType => t.startsWith('invoice.'))
const VENDOR_SHAPED = new Set<PocketsflowEventType>([...SUBSCRIPTION_TYPES, ...INVOICE_TYPES])
const OTHER_TYPES = POCKETSFLOW_EVENT_TYPES.filter((t) => !VENDOR_SHAPED.has(t))

// Top-level keys of the vendor's own sample bodies.
const VENDOR_SUBSCRIPTION_KEYS = [
  'subscription',
  'subscriptionCustomer',
  'customer',
  'status',
  'paymentMethod',
  'portalUrl',
  'subscriptionCustomerId',
  'clientReferenceId',
  'metadata',
  'webhookId',
]
const VENDOR_INVOICE_KEYS = [...VENDOR_SUBSCRIPTION_KEYS, 'amount', 'currency']

const sorted = (keys: string[]): string[] => [...keys].sort()

// Required top-level fields of the reference shape, per event family.
const REFERENCE_REQUIRED: Record<PocketsflowEventType, string[]> = {
  'order.completed': ['product', 'order', 'currency', 'customer', 'tax', 'amount', 'amountBeforeTax', 'metadata'],
  'order.refunded': ['order', 'refund', 'customer', 'product'],
  'customer.subscription.created': ['subscription', 'customer', 'product', 'amount', 'currency'],
  'customer.subscription.updated': ['subscription', 'customer'],
  'customer.subscription.deleted': ['subscription', 'customer'],
  'customer.subscription.paused': ['subscription', 'customer'],
  'customer.subscription.resumed': ['subscription', 'customer'],
  'customer.subscription.trial_will_end': ['subscription', 'customer'],
  'invoice.created': ['invoice', 'subscription', 'customer'],
  'invoice.upcoming': ['invoice', 'subscription', 'customer'],
  'invoice.paid': ['invoice', 'subscription', 'customer'],
  'invoice.payment_succeeded': ['invoice', 'subscription', 'customer'],
  'invoice.payment_failed': ['invoice', 'subscription', 'customer', 'error'],
  'payment_intent.succeeded': ['paymentIntent', 'customer'],
  'payment_intent.payment_failed': ['paymentIntent', 'error'],
  'product.created': ['product'],
  'product.updated': ['product'],
  'product.deleted': ['product'],
  'customer.created': ['customer', 'product'],
  'review.created': ['review', 'product', 'customer', 'order'],
  'identity.verification_session.verified': ['verificationSession', 'user'],
  'identity.verification_session.processing': ['verificationSession'],
  'identity.verification_session.requires_input': ['verificationSession'],
}

describe('samplePocketsflowPayload, reference shape', () => {
  it.each(POCKETSFLOW_EVENT_TYPES)('%s carries the common fields and its own', (type) => {
    const before = Date.now()
    const payload = samplePocketsflowPayload(type)
    const after = Date.now()

    expect(payload.event).toBe(type)
    expect(payload.webhookId).toMatch(/^webhook_[0-9a-f]+$/)
    expect(payload.timestamp).toBeGreaterThanOrEqual(before)
    expect(payload.timestamp).toBeLessThanOrEqual(after)
    expect(payload.testMode).toBe(true)
    expect(payload.livemode).toBe(false)
    for (const key of REFERENCE_REQUIRED[type]) expect(payload).toHaveProperty(key)
    expect(samplePocketsflowPayload(type, { shape: 'reference' })).toHaveProperty('event', type)
  })

  it('builds a JSON-safe body', () => {
    for (const type of POCKETSFLOW_EVENT_TYPES) {
      const payload = samplePocketsflowPayload(type)
      expect(JSON.parse(JSON.stringify(payload))).toEqual(payload)
    }
  })

  it('fills in the details that handlers read', () => {
    const order = samplePocketsflowPayload('order.completed')
    expect(order.customer.email).toMatch(/@example\.com$/)
    expect(order.order.id).toMatch(/^order_/)
    expect(order.product.id).toMatch(/^prod_/)
    expect(order.amount).toBeCloseTo((order.amountBeforeTax ?? 0) + (order.tax?.amount ?? 0), 2)

    const failed = samplePocketsflowPayload('invoice.payment_failed')
    expect(failed.invoice?.status).toBe('open')
    expect(failed.error?.code).toBe('card_declined')

    expect(samplePocketsflowPayload('customer.subscription.paused').subscription.status).toBe('paused')
    expect(samplePocketsflowPayload('customer.subscription.deleted').subscription.status).toBe('canceled')
    expect(samplePocketsflowPayload('identity.verification_session.requires_input').verificationSession.requiredFields).not.toHaveLength(0)
  })

  it('is typed per event', () => {
    expectTypeOf(samplePocketsflowPayload('order.completed')).toEqualTypeOf<OrderCompletedData>()
    expectTypeOf(samplePocketsflowPayload('invoice.paid', { shape: 'vendor' })).toEqualTypeOf<InvoiceEventData>()
    expectTypeOf(samplePocketsflowPayload('customer.subscription.pause')).toEqualTypeOf<SubscriptionEventData>()
  })
})

describe('samplePocketsflowPayload, vendor shape', () => {
  it('covers every subscription and invoice type', () => {
    expect(SUBSCRIPTION_TYPES).toHaveLength(6)
    expect(INVOICE_TYPES).toHaveLength(5)
  })

  it.each([...SUBSCRIPTION_TYPES])('%s matches the vendor subscription body', (type) => {
    const payload = samplePocketsflowPayload(type, { shape: 'vendor' })
    expect(sorted(Object.keys(payload))).toEqual(sorted(VENDOR_SUBSCRIPTION_KEYS))
    expect(payload).not.toHaveProperty('event')
    expect(payload).not.toHaveProperty('timestamp')
    expect(payload.webhookId).toMatch(/^[0-9a-f]{24}$/)
    expect(payload.subscriptionCustomerId).toBe(payload.subscriptionCustomer?.id)
    expect(payload.portalUrl).toBe(
      `https://app.pocketsflow.com/portal/${payload.subscription.id}/${String(payload.subscriptionCustomerId)}`,
    )
    expect(payload.status).toBe(payload.subscriptionCustomer?.status)
  })

  it.each([...INVOICE_TYPES])('%s matches the vendor invoice body', (type) => {
    const payload = samplePocketsflowPayload(type, { shape: 'vendor' })
    expect(sorted(Object.keys(payload))).toEqual(sorted(VENDOR_INVOICE_KEYS))
    expect(payload.invoice).toBeUndefined()
    expect(Number.isInteger(payload.amount)).toBe(true)
    expect(payload.currency).toBe('usd')
  })

  it('drops the card once a subscription has ended', () => {
    expect(samplePocketsflowPayload('customer.subscription.deleted', { shape: 'vendor' }).paymentMethod).toBeNull()
    expect(samplePocketsflowPayload('customer.subscription.created', { shape: 'vendor' }).paymentMethod).toMatchObject({
      type: 'card',
    })
  })

  it.each(OTHER_TYPES)('%s falls back to the reference body without event and timestamp', (type) => {
    const vendor = samplePocketsflowPayload(type, { shape: 'vendor' })
    const reference = samplePocketsflowPayload(type)
    expect(vendor).not.toHaveProperty('event')
    expect(vendor).not.toHaveProperty('timestamp')
    expect(typeof vendor.webhookId).toBe('string')
    expect(sorted(Object.keys(vendor))).toEqual(sorted(Object.keys(reference).filter((k) => k !== 'event' && k !== 'timestamp')))
  })
})

describe('samplePocketsflowPayload, alias', () => {
  it('keeps the spelling asked for in `event` and builds the paused payload', () => {
    const payload = samplePocketsflowPayload('customer.subscription.pause')
    expect(payload.event).toBe('customer.subscription.pause')
    expect(payload.subscription.status).toBe('paused')

    const vendor = samplePocketsflowPayload('customer.subscription.pause', { shape: 'vendor' })
    expect(vendor).not.toHaveProperty('event')
    expect(vendor.subscriptionCustomer?.paused).toBe(true)
  })
})

describe('samplePocketsflowPayload, freshness and overrides', () => {
  it('returns a new object graph with new ids on each call', () => {
    const a = samplePocketsflowPayload('order.completed')
    const b = samplePocketsflowPayload('order.completed')
    expect(a).not.toBe(b)
    expect(a.customer).not.toBe(b.customer)
    expect(a.webhookId).not.toBe(b.webhookId)
    expect(a.order.id).not.toBe(b.order.id)

    a.customer.email = 'changed@example.com'
    ;(a.tax as { amount: number }).amount = 0
    const c = samplePocketsflowPayload('order.completed')
    expect(c.customer.email).not.toBe('changed@example.com')
    expect(c.tax?.amount).not.toBe(0)
  })

  it('gives every vendor delivery its own webhookId', () => {
    const ids = new Set(Array.from({ length: 50 }, () => samplePocketsflowPayload('invoice.paid', { shape: 'vendor' }).webhookId))
    expect(ids.size).toBe(50)
  })

  it('merges overrides shallowly and last', () => {
    const payload = samplePocketsflowPayload('order.completed', {
      overrides: { amount: 1500, customer: { email: 'vip@example.com' }, event: 'order.completed', couponCode: 'SPRING' },
    })
    expect(payload.amount).toBe(1500)
    expect(payload.customer).toEqual({ email: 'vip@example.com' })
    expect(payload.couponCode).toBe('SPRING')
    expect(payload.order.id).toMatch(/^order_/)

    const vendor = samplePocketsflowPayload('customer.subscription.updated', {
      shape: 'vendor',
      overrides: { webhookId: 'fixed', event: 'customer.subscription.updated' },
    })
    expect(vendor.webhookId).toBe('fixed')
    expect(vendor.event).toBe('customer.subscription.updated')
  })

  it('rejects unknown types and shapes loudly', () => {
    // @ts-expect-error not a Pocketsflow event type
    expect(() => samplePocketsflowPayload('order.created')).toThrow(TypeError)
    // @ts-expect-error prototype keys are not event types
    expect(() => samplePocketsflowPayload('__proto__')).toThrow(/unknown Pocketsflow event type/)
    // @ts-expect-error only two shapes exist
    expect(() => samplePocketsflowPayload('order.completed', { shape: 'stripe' })).toThrow(TypeError)
  })
})

describe('samplePocketbookEnvelope', () => {
  it.each(POCKETBOOK_EVENT_TYPES)('%s builds a fresh envelope', (type) => {
    const before = Math.floor(Date.now() / 1000)
    const envelope = samplePocketbookEnvelope(type)
    const after = Math.floor(Date.now() / 1000)
    expect(envelope.type).toBe(type)
    expect(envelope.id).toMatch(/^evt_[0-9a-f]+$/)
    expect(envelope.created).toBeGreaterThanOrEqual(before)
    expect(envelope.created).toBeLessThanOrEqual(after)
    expect(Object.keys(envelope).sort()).toEqual(['created', 'data', 'id', 'type'])
    expect(JSON.parse(JSON.stringify(envelope))).toEqual(envelope)

    const again = samplePocketbookEnvelope(type)
    expect(again.id).not.toBe(envelope.id)
    expect(again.data).not.toBe(envelope.data)
  })

  it('fills in event-specific data and applies overrides', () => {
    const completed = samplePocketbookEnvelope('bulk_job.completed', { overrides: { failedCount: 0, successCount: 3 } })
    expect(completed.data.failedCount).toBe(0)
    expect(completed.data.successCount).toBe(3)
    expect(completed.data.voucherLinks.voucher_all.length).toBeGreaterThan(0)
    expectTypeOf(completed).toEqualTypeOf<PocketbookEnvelope<'bulk_job.completed', BulkJobCompletedData>>()

    const voucher = samplePocketbookEnvelope('voucher.created')
    expect(voucher.data.claimUrl).toContain(voucher.data.voucherId)
    expect(Number(voucher.data.expiry)).toBeGreaterThan(voucher.created)

    const minted = samplePocketbookEnvelope('certificate.minted')
    expect(minted.data.owner).toMatch(/^0x[0-9a-f]{40}$/)
    expect(minted.data.transactionHash).toMatch(/^0x[0-9a-f]{64}$/)

    // @ts-expect-error overrides are checked against the event's data type
    samplePocketbookEnvelope('bulk_job.failed', { overrides: { error: 42 } })
  })

  it('rejects unknown types', () => {
    // @ts-expect-error not a Pocketbook event type
    expect(() => samplePocketbookEnvelope('order.completed')).toThrow(TypeError)
  })
})

describe('sampleStandardWebhooksPayload', () => {
  it('wraps data with the type and an ISO timestamp', () => {
    const data = { orderId: 'order_1' }
    const payload = sampleStandardWebhooksPayload('order.completed', data)
    expect(payload.type).toBe('order.completed')
    expect(new Date(payload.timestamp).toISOString()).toBe(payload.timestamp)
    expect(Math.abs(Date.parse(payload.timestamp) - Date.now())).toBeLessThan(5_000)
    expect(payload.data).toEqual(data)
    expect(payload.data).not.toBe(data)
    expect(sampleStandardWebhooksPayload('ping').data).toEqual({})
  })
})

describe('Web-only environments', () => {
  afterEach(() => {
    vi.unstubAllGlobals()
  })

  it('still produces random ids without Web Crypto', () => {
    vi.stubGlobal('crypto', undefined)
    const a = samplePocketsflowPayload('order.completed')
    const b = samplePocketsflowPayload('order.completed')
    expect(a.webhookId).toMatch(/^webhook_[0-9a-f]{16}$/)
    expect(a.webhookId).not.toBe(b.webhookId)
    expect(samplePocketbookEnvelope('bulk_job.started').id).toMatch(/^evt_[0-9a-f]{24}$/)
  })

  it('imports no Node built-ins', () => {
    const source = readFileSync(new URL('../../src/testing/samples.ts', import.meta.url), 'utf8')
    const specifiers = [...source.matchAll(/\bfrom\s+['"]([^'"]+)['"]/g)].map((m) => m[1])
    expect(specifiers.length).toBeGreaterThan(0)
    for (const specifier of specifiers) expect(specifier).toMatch(/^\.\.\/events\/pocket(sflow|book)\.js$/)
    expect(source).not.toMatch(/\brequire\(|import\(/)
  })
})
