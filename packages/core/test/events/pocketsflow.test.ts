import { describe, it, expect, expectTypeOf } from 'vitest'
import {
  POCKETSFLOW_EVENT_ALIASES,
  POCKETSFLOW_EVENT_TYPES,
  canonicalPocketsflowType,
  isPocketsflowEventType,
  type CustomerCreatedData,
  type IdentityVerificationEventData,
  type InvoiceEventData,
  type OrderCompletedData,
  type OrderRefundedData,
  type PaymentIntentEventData,
  type PocketsflowEventAlias,
  type PocketsflowEventDataMap,
  type PocketsflowEventType,
  type ProductDeletedData,
  type ProductEventData,
  type ReviewCreatedData,
  type SubscriptionEventData,
  type SubscriptionTrialWillEndData,
} from '../../src/events/pocketsflow.js'

const EXPECTED_TYPES = [
  'order.completed',
  'order.refunded',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'customer.subscription.paused',
  'customer.subscription.resumed',
  'customer.subscription.trial_will_end',
  'invoice.created',
  'invoice.upcoming',
  'invoice.paid',
  'invoice.payment_succeeded',
  'invoice.payment_failed',
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
  'product.created',
  'product.updated',
  'product.deleted',
  'customer.created',
  'review.created',
  'identity.verification_session.verified',
  'identity.verification_session.processing',
  'identity.verification_session.requires_input',
] as const

// Strings that resolve to something on Object.prototype if looked up with `obj[key]`.
const PROTOTYPE_KEYS = [
  '__proto__',
  'constructor',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  '__defineGetter__',
  'toLocaleString',
]

describe('POCKETSFLOW_EVENT_TYPES', () => {
  it('lists every canonical type exactly once', () => {
    expect([...POCKETSFLOW_EVENT_TYPES].sort()).toEqual([...EXPECTED_TYPES].sort())
    expect(new Set(POCKETSFLOW_EVENT_TYPES).size).toBe(POCKETSFLOW_EVENT_TYPES.length)
  })

  it('holds canonical spellings only', () => {
    expect(POCKETSFLOW_EVENT_TYPES).toContain('customer.subscription.paused')
    expect(POCKETSFLOW_EVENT_TYPES).not.toContain('customer.subscription.pause')
  })

  it('cannot be mutated at run time', () => {
    expect(Object.isFrozen(POCKETSFLOW_EVENT_TYPES)).toBe(true)
    expect(Object.isFrozen(POCKETSFLOW_EVENT_ALIASES)).toBe(true)
  })

  it('is a readonly literal tuple at the type level', () => {
    expectTypeOf(POCKETSFLOW_EVENT_TYPES).toEqualTypeOf<typeof EXPECTED_TYPES>()
    expectTypeOf<PocketsflowEventType>().toEqualTypeOf<(typeof EXPECTED_TYPES)[number]>()
    expectTypeOf<'customer.subscription.pause'>().not.toExtend<PocketsflowEventType>()
    // @ts-expect-error the tuple is readonly
    POCKETSFLOW_EVENT_TYPES.push
  })
})

describe('aliases', () => {
  it('maps the alias to the canonical spelling', () => {
    expect(POCKETSFLOW_EVENT_ALIASES).toEqual({ 'customer.subscription.pause': 'customer.subscription.paused' })
    expect(canonicalPocketsflowType('customer.subscription.pause')).toBe('customer.subscription.paused')
    expectTypeOf<PocketsflowEventAlias>().toEqualTypeOf<'customer.subscription.pause'>()
  })

  it('every alias target is canonical and no alias is canonical itself', () => {
    for (const [alias, target] of Object.entries(POCKETSFLOW_EVENT_ALIASES)) {
      expect(isPocketsflowEventType(target)).toBe(true)
      expect(isPocketsflowEventType(alias)).toBe(false)
    }
  })

  it('returns canonical and unknown types unchanged', () => {
    for (const type of POCKETSFLOW_EVENT_TYPES) expect(canonicalPocketsflowType(type)).toBe(type)
    for (const type of ['', 'order.created', 'customer.subscription.Pause', ' customer.subscription.pause']) {
      expect(canonicalPocketsflowType(type)).toBe(type)
    }
  })

  it('is not fooled by strings that name Object.prototype members', () => {
    for (const key of PROTOTYPE_KEYS) {
      expect(canonicalPocketsflowType(key)).toBe(key)
      expect(isPocketsflowEventType(key)).toBe(false)
    }
  })
})

describe('isPocketsflowEventType', () => {
  it('accepts every canonical type and narrows', () => {
    for (const type of POCKETSFLOW_EVENT_TYPES) expect(isPocketsflowEventType(type)).toBe(true)
    const input: string = 'order.completed'
    if (isPocketsflowEventType(input)) expectTypeOf(input).toEqualTypeOf<PocketsflowEventType>()
  })

  it('rejects aliases, unknown and near-miss types', () => {
    for (const type of ['customer.subscription.pause', 'order.created', 'ORDER.COMPLETED', 'order.completed ', '']) {
      expect(isPocketsflowEventType(type)).toBe(false)
    }
  })
})

describe('PocketsflowEventDataMap', () => {
  it('has exactly one entry per canonical type', () => {
    expectTypeOf<keyof PocketsflowEventDataMap>().toEqualTypeOf<PocketsflowEventType>()
  })

  it('types a handler that reads order.completed customer.email without optional chaining', () => {
    const handler = (data: PocketsflowEventDataMap['order.completed']): string => data.customer.email.toLowerCase()
    expectTypeOf(handler).returns.toEqualTypeOf<string>()
  })
})

// Shapes as the vendor's own sample receiver sends them (values changed). No `event` and no
// `timestamp` in the body: the type travels in the X-Pocketsflow-Event header.
const vendorSubscriptionCreated = {
  subscription: { id: '65f0c1d2e3a4b5c6d7e8f901', customerId: 'cus_Tq81xY' },
  subscriptionCustomer: {
    id: '66a1b2c3d4e5f60718293a4b',
    status: 'active',
    active: true,
    cancelAtPeriodEnd: false,
    paused: false,
  },
  customer: { email: 'lena.fischer@example.com', firstName: 'Lena', lastName: 'Fischer' },
  status: 'active',
  paymentMethod: { id: 'pm_9Kd2Lq', type: 'card', brand: 'visa', last4: '1881', expMonth: 3, expYear: 2031 },
  portalUrl: 'https://app.pocketsflow.com/portal/65f0c1d2e3a4b5c6d7e8f901/66a1b2c3d4e5f60718293a4b',
  subscriptionCustomerId: '66a1b2c3d4e5f60718293a4b',
  clientReferenceId: 'acct-7731',
  metadata: { plan: 'team' },
  webhookId: '66a1b2c3d4e5f60718293a50',
}

const vendorSubscriptionUpdated = {
  ...vendorSubscriptionCreated,
  subscriptionCustomer: { ...vendorSubscriptionCreated.subscriptionCustomer, cancelAtPeriodEnd: true },
  webhookId: '66a1b2c3d4e5f60718293a51',
}

const vendorSubscriptionDeleted = {
  subscription: { id: '65f0c1d2e3a4b5c6d7e8f901', customerId: 'cus_Tq81xY' },
  subscriptionCustomer: {
    id: '66a1b2c3d4e5f60718293a4b',
    status: 'canceled',
    active: false,
    cancelAtPeriodEnd: false,
    paused: false,
  },
  customer: { email: 'lena.fischer@example.com', firstName: 'Lena', lastName: 'Fischer' },
  status: 'canceled',
  paymentMethod: null,
  portalUrl: 'https://app.pocketsflow.com/portal/65f0c1d2e3a4b5c6d7e8f901/66a1b2c3d4e5f60718293a4b',
  subscriptionCustomerId: '66a1b2c3d4e5f60718293a4b',
  clientReferenceId: 'acct-7731',
  metadata: { plan: 'team' },
  webhookId: '66a1b2c3d4e5f60718293a52',
}

const vendorInvoicePaymentSucceeded = {
  subscription: { id: '65f0c1d2e3a4b5c6d7e8f901', customerId: 'cus_Tq81xY' },
  subscriptionCustomer: {
    id: '66a1b2c3d4e5f60718293a4b',
    status: 'active',
    active: true,
    cancelAtPeriodEnd: false,
    paused: false,
  },
  customer: { email: 'lena.fischer@example.com', firstName: 'Lena', lastName: 'Fischer' },
  status: 'active',
  amount: 2400,
  currency: 'eur',
  paymentMethod: { id: 'pm_9Kd2Lq', type: 'card', brand: 'visa', last4: '1881', expMonth: 3, expYear: 2031 },
  portalUrl: 'https://app.pocketsflow.com/portal/65f0c1d2e3a4b5c6d7e8f901/66a1b2c3d4e5f60718293a4b',
  subscriptionCustomerId: '66a1b2c3d4e5f60718293a4b',
  clientReferenceId: 'acct-7731',
  metadata: { plan: 'team' },
  webhookId: '66a1b2c3d4e5f60718293a53',
}

describe('vendor sample shapes', () => {
  it('are admitted by the subscription and invoice payload types', () => {
    expectTypeOf(vendorSubscriptionCreated).toExtend<PocketsflowEventDataMap['customer.subscription.created']>()
    expectTypeOf(vendorSubscriptionUpdated).toExtend<PocketsflowEventDataMap['customer.subscription.updated']>()
    expectTypeOf(vendorSubscriptionDeleted).toExtend<PocketsflowEventDataMap['customer.subscription.deleted']>()
    expectTypeOf(vendorInvoicePaymentSucceeded).toExtend<PocketsflowEventDataMap['invoice.payment_succeeded']>()
    // The same body shape is sent for the subscription events without a vendor sample.
    expectTypeOf(vendorSubscriptionUpdated).toExtend<PocketsflowEventDataMap['customer.subscription.paused']>()
    expectTypeOf(vendorSubscriptionCreated).toExtend<PocketsflowEventDataMap['customer.subscription.resumed']>()
    expectTypeOf(vendorSubscriptionCreated).toExtend<SubscriptionTrialWillEndData>()
    expectTypeOf(vendorInvoicePaymentSucceeded).toExtend<PocketsflowEventDataMap['invoice.payment_failed']>()
    expectTypeOf(vendorInvoicePaymentSucceeded).toExtend<PocketsflowEventDataMap['invoice.paid']>()
  })

  it('survive a JSON round trip as the types describe them', () => {
    const parsed = JSON.parse(JSON.stringify(vendorInvoicePaymentSucceeded)) as InvoiceEventData
    expect(parsed.invoice).toBeUndefined()
    expect(parsed.amount).toBe(2400)
    expect(parsed.customer.email).toBe('lena.fischer@example.com')
    expect(parsed.subscriptionCustomer?.active).toBe(true)
  })

  it('are not mistaken for unrelated events', () => {
    expectTypeOf(vendorSubscriptionCreated).not.toExtend<OrderCompletedData>()
    expectTypeOf(vendorInvoicePaymentSucceeded).not.toExtend<PaymentIntentEventData>()
  })
})

// Shapes from the public events reference (values changed). `satisfies` also checks that each
// literal is accepted as written, without widening.
describe('reference shapes', () => {
  const common = { webhookId: 'webhook_7fa3c1', timestamp: 1735689600000, testMode: false, livemode: true }

  it('are admitted for orders', () => {
    const completed = {
      ...common,
      event: 'order.completed',
      product: { id: 'prod_k2m9', variantId: null },
      order: { id: 'order_q81z' },
      currency: 'usd',
      customer: { email: 'omar.haddad@example.com', firstName: 'Omar', lastName: 'Haddad' },
      tax: { amount: 2.4, rate: 0.1, ToCountry: 'US', ToZip: '10001', ToState: 'NY', percentage: 10, vatNumber: null },
      amount: 26.4,
      amountBeforeTax: 24,
      metadata: { campaign: 'spring' },
    } satisfies OrderCompletedData
    expect(completed.customer.email).toContain('@')

    const withVariant = { ...completed, product: { id: 'prod_k2m9', variantId: 'var_x1' } } satisfies OrderCompletedData
    expect(withVariant.product.variantId).toBe('var_x1')

    const refunded = {
      ...common,
      event: 'order.refunded',
      order: { id: 'order_q81z' },
      refund: { id: 'refund_p0w', amount: 26.4, reason: 'requested_by_customer', status: 'succeeded' },
      customer: { email: 'omar.haddad@example.com' },
      product: { id: 'prod_k2m9' },
    } satisfies OrderRefundedData
    expect(refunded.refund.amount).toBe(26.4)
  })

  it('are admitted for subscriptions', () => {
    const created = {
      ...common,
      event: 'customer.subscription.created',
      subscription: {
        id: 'sub_c7d8',
        status: 'active',
        billingInterval: 'year',
        currentPeriodStart: '2025-03-01T00:00:00.000Z',
        currentPeriodEnd: '2026-03-01T00:00:00.000Z',
        cancelAtPeriodEnd: false,
        trialStart: null,
        trialEnd: null,
      },
      customer: { email: 'omar.haddad@example.com', customerId: 'cus_77aa' },
      product: { id: 'prod_k2m9', name: 'Annual Pass' },
      amount: 199,
      currency: 'usd',
    } satisfies SubscriptionEventData

    const deleted = {
      ...common,
      event: 'customer.subscription.deleted',
      subscription: { id: 'sub_c7d8', status: 'canceled', canceledAt: '2025-06-02T08:00:00.000Z', cancelAtPeriodEnd: false },
      customer: { email: 'omar.haddad@example.com' },
    } satisfies PocketsflowEventDataMap['customer.subscription.deleted']

    const paused = { ...created, event: 'customer.subscription.pause' } satisfies PocketsflowEventDataMap['customer.subscription.paused']

    const trial = {
      ...common,
      event: 'customer.subscription.trial_will_end',
      subscription: { id: 'sub_c7d8', trialEnd: '2025-03-04T00:00:00.000Z', daysUntilTrialEnd: 3 },
      customer: { email: 'omar.haddad@example.com' },
    } satisfies PocketsflowEventDataMap['customer.subscription.trial_will_end']

    expect([created, deleted, paused, trial].map((p) => p.subscription.id)).toEqual(Array(4).fill('sub_c7d8'))
  })

  it('are admitted for invoices and payment intents', () => {
    const subscriptionAndCustomer = { subscription: { id: 'sub_c7d8' }, customer: { email: 'omar.haddad@example.com' } }
    const created = {
      ...common,
      ...subscriptionAndCustomer,
      event: 'invoice.created',
      invoice: {
        id: 'inv_55e',
        status: 'open',
        amountDue: 19,
        currency: 'usd',
        periodStart: '2025-03-01T00:00:00.000Z',
        periodEnd: '2025-04-01T00:00:00.000Z',
      },
    } satisfies PocketsflowEventDataMap['invoice.created']
    const succeeded = {
      ...common,
      ...subscriptionAndCustomer,
      event: 'invoice.payment_succeeded',
      invoice: { id: 'inv_55e', status: 'paid', amountPaid: 19, currency: 'usd', paidAt: '2025-03-01T09:00:00.000Z' },
    } satisfies PocketsflowEventDataMap['invoice.payment_succeeded']
    const failed = {
      ...common,
      ...subscriptionAndCustomer,
      event: 'invoice.payment_failed',
      invoice: { id: 'inv_55e', status: 'open', amountDue: 19, attemptCount: 2, nextPaymentAttempt: '2025-03-03T09:00:00.000Z' },
      error: { code: 'insufficient_funds', message: 'Insufficient funds' },
    } satisfies PocketsflowEventDataMap['invoice.payment_failed']
    expect([created, succeeded, failed].every((p) => p.invoice.id === 'inv_55e')).toBe(true)

    const piSucceeded = {
      ...common,
      event: 'payment_intent.succeeded',
      paymentIntent: { id: 'pi_3n', amount: 19, currency: 'usd', status: 'succeeded' },
      customer: { email: 'omar.haddad@example.com' },
    } satisfies PocketsflowEventDataMap['payment_intent.succeeded']
    const piFailed = {
      ...common,
      event: 'payment_intent.payment_failed',
      paymentIntent: { id: 'pi_3n', amount: 19, currency: 'usd', status: 'requires_payment_method' },
      error: { code: 'card_declined', message: 'Declined' },
    } satisfies PocketsflowEventDataMap['payment_intent.payment_failed']
    expect(piSucceeded.paymentIntent.id).toBe(piFailed.paymentIntent.id)
  })

  it('are admitted for products, customers, reviews and identity checks', () => {
    const product = {
      ...common,
      event: 'product.created',
      product: { id: 'prod_k2m9', name: 'Lightroom Presets', price: 15, currency: 'usd', published: true, createdAt: '2025-01-01T00:00:00.000Z' },
    } satisfies ProductEventData
    const deleted = {
      ...common,
      event: 'product.deleted',
      product: { id: 'prod_k2m9', deletedAt: '2025-02-01T00:00:00.000Z' },
    } satisfies ProductDeletedData
    const customer = {
      ...common,
      event: 'customer.created',
      customer: { id: 'cust_1q', email: 'ines@example.com', firstName: 'Inès', lastName: 'Moreau', country: 'FR', createdAt: '2025-01-01T00:00:00.000Z' },
      product: { id: 'prod_k2m9' },
    } satisfies CustomerCreatedData
    // The vendor's overview also mentions an order and metadata; an API-created customer has no product.
    const apiCustomer = {
      customer: { id: 'cust_2r', email: 'kofi@example.com', firstName: 'Kofi', lastName: 'Mensah', country: 'GH' },
      order: { id: 'order_x' },
      metadata: {},
    } satisfies CustomerCreatedData
    const review = {
      ...common,
      event: 'review.created',
      review: { id: 'rev_9', rating: 2, review: 'Too short for the price.', createdAt: '2025-01-02T00:00:00.000Z' },
      product: { id: 'prod_k2m9', name: 'Lightroom Presets' },
      customer: { email: 'ines@example.com', firstName: 'Inès' },
      order: { id: 'order_x' },
    } satisfies ReviewCreatedData
    const verified = {
      ...common,
      event: 'identity.verification_session.verified',
      verificationSession: { id: 'vs_4', status: 'verified', verifiedAt: '2025-01-03T00:00:00.000Z' },
      user: { id: 'user_8', email: 'seller@example.com' },
    } satisfies PocketsflowEventDataMap['identity.verification_session.verified']
    const requiresInput = {
      ...common,
      event: 'identity.verification_session.requires_input',
      verificationSession: { id: 'vs_4', status: 'requires_input', requiredFields: ['id_number'] },
    } satisfies IdentityVerificationEventData
    expect([product, deleted, customer, apiCustomer, review, verified, requiresInput]).toHaveLength(7)
  })

  it('admit fields the sender adds later', () => {
    const future = {
      paymentIntent: { id: 'pi_1', amount: 1, currency: 'usd', status: 'succeeded', captureMethod: 'automatic' },
      customer: { email: 'a@example.com', locale: 'de' },
      affiliate: { id: 'aff_1' },
    } satisfies PocketsflowEventDataMap['payment_intent.succeeded']
    expect(future.affiliate.id).toBe('aff_1')
  })
})

describe('rejected shapes', () => {
  it('fail to type-check', () => {
    const order: OrderCompletedData = {
      product: { id: 'prod_1', variantId: null },
      order: { id: 'order_1' },
      currency: 'usd',
      customer: { email: 'a@example.com', firstName: 'A', lastName: 'B' },
      tax: { amount: 0, rate: 0, ToCountry: 'US', ToZip: '10001', ToState: 'NY', percentage: 0, vatNumber: null },
      amount: 10,
      amountBeforeTax: 10,
      metadata: {},
    }
    // @ts-expect-error order.completed always carries customer.email
    const noEmail: OrderCompletedData = { ...order, customer: { firstName: 'A', lastName: 'B' } }
    // @ts-expect-error amounts are numbers, not strings
    const stringAmount: OrderCompletedData = { ...order, amount: '10.00' }
    // @ts-expect-error a known field keeps its type despite the index signature
    const badCurrency: OrderCompletedData = { ...order, currency: 840 }
    // @ts-expect-error every subscription shape carries subscription.id
    const noSubscriptionId: SubscriptionEventData = { subscription: { customerId: 'cus_1' }, customer: { email: 'a@example.com' } }
    // @ts-expect-error every subscription shape carries customer
    const noCustomer: SubscriptionEventData = { subscription: { id: 'sub_1' } }
    // @ts-expect-error paymentMethod is an object or null
    const badPaymentMethod: SubscriptionEventData = { subscription: { id: 'sub_1' }, customer: { email: 'a@example.com' }, paymentMethod: 'card' }
    // @ts-expect-error payment_intent.succeeded always names the customer
    const noPiCustomer: PocketsflowEventDataMap['payment_intent.succeeded'] = { paymentIntent: { id: 'pi_1', amount: 1, currency: 'usd', status: 'succeeded' } }
    // @ts-expect-error product.created sends the full product record
    const thinProduct: ProductEventData = { product: { id: 'prod_1' } }
    // @ts-expect-error testMode is a boolean
    const badTestMode: InvoiceEventData = { subscription: { id: 'sub_1' }, customer: { email: 'a@example.com' }, testMode: 'yes' }
    expect([noEmail, stringAmount, badCurrency, noSubscriptionId, noCustomer, badPaymentMethod, noPiCustomer, thinProduct, badTestMode]).toHaveLength(9)
  })
})
