/**
 * Realistic sample payloads for tests and demos. Every call builds a new object graph with fresh
 * random ids, so tests can mutate what they get and two samples never look like one delivery.
 * Only Web APIs are used (no node:crypto) so this also loads in edge runtimes and browsers.
 */
import {
  canonicalPocketsflowType,
  isPocketsflowEventType,
  type InvoiceEventData,
  type PocketsflowEventAlias,
  type PocketsflowEventDataMap,
  type PocketsflowEventType,
  type PocketsflowInvoice,
  type POCKETSFLOW_EVENT_ALIASES,
  type SubscriptionEventData,
} from '../events/pocketsflow.js'
import {
  isPocketbookEventType,
  type PocketbookEnvelope,
  type PocketbookEventDataMap,
  type PocketbookEventType,
} from '../events/pocketbook.js'

// ---------------------------------------------------------------------------------------------
// Random values
// ---------------------------------------------------------------------------------------------

function randomHex(byteLength: number): string {
  const bytes = new Uint8Array(byteLength)
  // Optional access: some sandboxes expose no Web Crypto, and samples don't need strong randomness.
  const webCrypto = (globalThis as { crypto?: Partial<Crypto> }).crypto
  if (typeof webCrypto?.getRandomValues === 'function') {
    webCrypto.getRandomValues(bytes)
  } else {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256)
  }
  let hex = ''
  for (const byte of bytes) hex += byte.toString(16).padStart(2, '0')
  return hex
}

const prefixedId = (prefix: string): string => `${prefix}_${randomHex(8)}`
/** 24 hex chars, the shape of the ids in the vendor's samples (MongoDB ObjectIds). */
const objectId = (): string => randomHex(12)
const walletAddress = (): string => `0x${randomHex(20)}`
const transactionHash = (): string => `0x${randomHex(32)}`

const DAY_MS = 86_400_000
const isoAt = (ms: number): string => new Date(ms).toISOString()

// ---------------------------------------------------------------------------------------------
// Pocketsflow
// ---------------------------------------------------------------------------------------------

export interface SamplePocketsflowPayloadOptions {
  /**
   * `reference` (default) follows the public events reference, with `event` and `timestamp` in the
   * body. `vendor` follows the bodies the vendor's own sample receiver sends: no type or timestamp
   * in the body (those travel in headers), and a different layout for subscription and invoice
   * events.
   */
  shape?: 'reference' | 'vendor'
  /** Shallow-merged over the generated payload, last. */
  overrides?: Record<string, unknown>
}

type PocketsflowBuilders<K extends PocketsflowEventType> = {
  [P in K]: (now: number) => PocketsflowEventDataMap[P]
}

const buyer = () => ({
  email: 'maya.okafor@example.com',
  firstName: 'Maya',
  lastName: 'Okafor',
})

// Reference-shape amounts are decimals and vendor-shape amounts are minor units, mirroring the
// disagreement between the two sources so tests notice if they assume either.
const SUBSCRIPTION_PRICE = 19.99
const SUBSCRIPTION_PRICE_MINOR = 1999

function referenceSubscription(
  now: number,
  overrides: Partial<SubscriptionEventData['subscription']> = {},
): SubscriptionEventData {
  return {
    subscription: {
      id: prefixedId('sub'),
      status: 'active',
      billingInterval: 'month',
      currentPeriodStart: isoAt(now),
      currentPeriodEnd: isoAt(now + 30 * DAY_MS),
      cancelAtPeriodEnd: false,
      trialStart: null,
      trialEnd: null,
      ...overrides,
    },
    customer: { email: buyer().email, customerId: prefixedId('cus') },
    product: { id: prefixedId('prod'), name: 'Indie Hacker Toolkit (monthly)' },
    amount: SUBSCRIPTION_PRICE,
    currency: 'usd',
  }
}

function referenceInvoice(invoice: Partial<PocketsflowInvoice>): InvoiceEventData {
  return {
    invoice: { id: prefixedId('in'), ...invoice },
    subscription: { id: prefixedId('sub') },
    customer: { email: buyer().email },
  }
}

const cardDeclined = () => ({ code: 'card_declined', message: 'Your card was declined.' })

const referenceBuilders: PocketsflowBuilders<PocketsflowEventType> = {
  'order.completed': () => ({
    product: { id: prefixedId('prod'), variantId: null },
    order: { id: prefixedId('order') },
    currency: 'usd',
    customer: buyer(),
    tax: {
      amount: 3.92,
      rate: 0.08,
      percentage: 8,
      ToCountry: 'US',
      ToZip: '97205',
      ToState: 'OR',
      vatNumber: null,
    },
    amount: 52.92,
    amountBeforeTax: 49,
    metadata: { utm_source: 'newsletter' },
  }),
  'order.refunded': () => ({
    order: { id: prefixedId('order') },
    refund: { id: prefixedId('re'), amount: 52.92, reason: 'requested_by_customer', status: 'succeeded' },
    customer: { email: buyer().email },
    product: { id: prefixedId('prod') },
  }),
  'customer.subscription.created': (now) => referenceSubscription(now),
  'customer.subscription.updated': (now) => referenceSubscription(now, { cancelAtPeriodEnd: true }),
  'customer.subscription.deleted': (now) => ({
    subscription: {
      id: prefixedId('sub'),
      status: 'canceled',
      canceledAt: isoAt(now),
      cancelAtPeriodEnd: false,
    },
    customer: { email: buyer().email },
  }),
  'customer.subscription.paused': (now) => referenceSubscription(now, { status: 'paused' }),
  'customer.subscription.resumed': (now) => referenceSubscription(now, { status: 'active' }),
  'customer.subscription.trial_will_end': (now) => ({
    subscription: { id: prefixedId('sub'), trialEnd: isoAt(now + 3 * DAY_MS), daysUntilTrialEnd: 3 },
    customer: { email: buyer().email },
  }),
  'invoice.created': (now) =>
    referenceInvoice({
      status: 'open',
      amountDue: SUBSCRIPTION_PRICE,
      currency: 'usd',
      periodStart: isoAt(now),
      periodEnd: isoAt(now + 30 * DAY_MS),
    }),
  'invoice.upcoming': (now) =>
    referenceInvoice({
      status: 'draft',
      amountDue: SUBSCRIPTION_PRICE,
      currency: 'usd',
      periodStart: isoAt(now + 7 * DAY_MS),
      periodEnd: isoAt(now + 37 * DAY_MS),
    }),
  'invoice.paid': (now) =>
    referenceInvoice({ status: 'paid', amountPaid: SUBSCRIPTION_PRICE, currency: 'usd', paidAt: isoAt(now) }),
  'invoice.payment_succeeded': (now) =>
    referenceInvoice({ status: 'paid', amountPaid: SUBSCRIPTION_PRICE, currency: 'usd', paidAt: isoAt(now) }),
  'invoice.payment_failed': (now) => ({
    ...referenceInvoice({
      status: 'open',
      amountDue: SUBSCRIPTION_PRICE,
      attemptCount: 1,
      nextPaymentAttempt: isoAt(now + 2 * DAY_MS),
    }),
    error: cardDeclined(),
  }),
  'payment_intent.succeeded': () => ({
    paymentIntent: { id: prefixedId('pi'), amount: SUBSCRIPTION_PRICE, currency: 'usd', status: 'succeeded' },
    customer: { email: buyer().email },
  }),
  'payment_intent.payment_failed': () => ({
    paymentIntent: {
      id: prefixedId('pi'),
      amount: SUBSCRIPTION_PRICE,
      currency: 'usd',
      status: 'requires_payment_method',
    },
    error: cardDeclined(),
  }),
  'product.created': (now) => ({
    product: {
      id: prefixedId('prod'),
      name: 'Design Systems Handbook',
      price: 39,
      currency: 'usd',
      published: false,
      createdAt: isoAt(now),
    },
  }),
  'product.updated': (now) => ({
    product: {
      id: prefixedId('prod'),
      name: 'Design Systems Handbook (2nd edition)',
      price: 45,
      currency: 'usd',
      published: true,
      createdAt: isoAt(now - 14 * DAY_MS),
    },
  }),
  'product.deleted': (now) => ({
    product: { id: prefixedId('prod'), deletedAt: isoAt(now) },
  }),
  'customer.created': (now) => ({
    customer: { id: prefixedId('cus'), ...buyer(), country: 'NG', createdAt: isoAt(now) },
    product: { id: prefixedId('prod') },
  }),
  'review.created': (now) => ({
    review: {
      id: prefixedId('rev'),
      rating: 4,
      review: 'Clear examples, and the templates saved me a weekend.',
      createdAt: isoAt(now),
    },
    product: { id: prefixedId('prod'), name: 'Design Systems Handbook' },
    customer: { email: buyer().email, firstName: buyer().firstName },
    order: { id: prefixedId('order') },
  }),
  'identity.verification_session.verified': (now) => ({
    verificationSession: { id: prefixedId('vs'), status: 'verified', verifiedAt: isoAt(now) },
    user: { id: prefixedId('user'), email: 'studio.owner@example.com' },
  }),
  'identity.verification_session.processing': () => ({
    verificationSession: { id: prefixedId('vs'), status: 'processing' },
    user: { id: prefixedId('user'), email: 'studio.owner@example.com' },
  }),
  'identity.verification_session.requires_input': () => ({
    verificationSession: {
      id: prefixedId('vs'),
      status: 'requires_input',
      requiredFields: ['document_back', 'selfie'],
    },
  }),
}

interface VendorState {
  status: string
  active: boolean
  cancelAtPeriodEnd?: boolean
  paused?: boolean
  /** Whether a saved card is still attached (it is gone once the subscription ends). */
  card?: boolean
}

function vendorSubscription(state: VendorState): SubscriptionEventData {
  const subscriptionId = objectId()
  const subscriptionCustomerId = objectId()
  return {
    subscription: { id: subscriptionId, customerId: prefixedId('cus') },
    subscriptionCustomer: {
      id: subscriptionCustomerId,
      status: state.status,
      active: state.active,
      cancelAtPeriodEnd: state.cancelAtPeriodEnd ?? false,
      paused: state.paused ?? false,
    },
    customer: buyer(),
    status: state.status,
    paymentMethod:
      state.card === false
        ? null
        : { id: prefixedId('pm'), type: 'card', brand: 'mastercard', last4: '4444', expMonth: 8, expYear: 2030 },
    portalUrl: `https://app.pocketsflow.com/portal/${subscriptionId}/${subscriptionCustomerId}`,
    subscriptionCustomerId,
    clientReferenceId: `user-${randomHex(4)}`,
    metadata: { plan: 'pro' },
  }
}

function vendorInvoice(state: VendorState): InvoiceEventData {
  return { ...vendorSubscription(state), amount: SUBSCRIPTION_PRICE_MINOR, currency: 'usd' }
}

type VendorShapedType =
  | 'customer.subscription.created'
  | 'customer.subscription.updated'
  | 'customer.subscription.deleted'
  | 'customer.subscription.paused'
  | 'customer.subscription.resumed'
  | 'customer.subscription.trial_will_end'
  | 'invoice.created'
  | 'invoice.upcoming'
  | 'invoice.paid'
  | 'invoice.payment_succeeded'
  | 'invoice.payment_failed'

const vendorBuilders: PocketsflowBuilders<VendorShapedType> = {
  'customer.subscription.created': () => vendorSubscription({ status: 'active', active: true }),
  'customer.subscription.updated': () =>
    vendorSubscription({ status: 'active', active: true, cancelAtPeriodEnd: true }),
  'customer.subscription.deleted': () => vendorSubscription({ status: 'canceled', active: false, card: false }),
  'customer.subscription.paused': () => vendorSubscription({ status: 'paused', active: false, paused: true }),
  'customer.subscription.resumed': () => vendorSubscription({ status: 'active', active: true }),
  'customer.subscription.trial_will_end': () => vendorSubscription({ status: 'trialing', active: true }),
  'invoice.created': () => vendorInvoice({ status: 'active', active: true }),
  'invoice.upcoming': () => vendorInvoice({ status: 'active', active: true }),
  'invoice.paid': () => vendorInvoice({ status: 'active', active: true }),
  'invoice.payment_succeeded': () => vendorInvoice({ status: 'active', active: true }),
  'invoice.payment_failed': () => vendorInvoice({ status: 'past_due', active: true }),
}

function isVendorShaped(type: PocketsflowEventType): type is VendorShapedType {
  return Object.hasOwn(vendorBuilders, type)
}

/**
 * A sample Pocketsflow payload (the parsed body) for `type`. An alias such as
 * `customer.subscription.pause` yields the canonical event's payload; in the reference shape its
 * `event` field keeps the spelling asked for, as the sender would send it.
 */
export function samplePocketsflowPayload<A extends PocketsflowEventAlias>(
  type: A,
  options?: SamplePocketsflowPayloadOptions,
): PocketsflowEventDataMap[(typeof POCKETSFLOW_EVENT_ALIASES)[A]]
export function samplePocketsflowPayload<T extends PocketsflowEventType>(
  type: T | PocketsflowEventAlias,
  options?: SamplePocketsflowPayloadOptions,
): PocketsflowEventDataMap[T]
export function samplePocketsflowPayload(
  type: string,
  options: SamplePocketsflowPayloadOptions = {},
): Record<string, unknown> {
  const canonical = canonicalPocketsflowType(type)
  if (!isPocketsflowEventType(canonical)) {
    throw new TypeError(`pocketsflow-webhooks: samplePocketsflowPayload: unknown Pocketsflow event type ${JSON.stringify(type)}`)
  }
  const shape = options.shape ?? 'reference'
  if (shape !== 'reference' && shape !== 'vendor') {
    throw new TypeError(`pocketsflow-webhooks: samplePocketsflowPayload: shape must be 'reference' or 'vendor', got ${JSON.stringify(shape)}`)
  }

  const now = Date.now()
  let payload: Record<string, unknown>
  if (shape === 'vendor' && isVendorShaped(canonical)) {
    // Mirrors the vendor samples, where `webhookId` is injected last, just before signing.
    payload = { ...vendorBuilders[canonical](now), webhookId: objectId() }
  } else if (shape === 'vendor') {
    payload = { webhookId: objectId(), testMode: true, livemode: false, ...referenceBuilders[canonical](now) }
  } else {
    payload = {
      webhookId: prefixedId('webhook'),
      event: type,
      timestamp: now,
      testMode: true,
      livemode: false,
      ...referenceBuilders[canonical](now),
    }
  }
  return { ...payload, ...options.overrides }
}

// ---------------------------------------------------------------------------------------------
// Pocketbook
// ---------------------------------------------------------------------------------------------

type PocketbookBuilders = {
  [K in PocketbookEventType]: (now: number) => PocketbookEventDataMap[K]
}

const referenceNumber = (): string => `PB-${randomHex(3).toUpperCase()}`
const tokenId = (): string => String(1 + Math.floor(Math.random() * 1_000_000))
const claimUrl = (voucherId: string): string => `https://pocketbook.studio/claim/${voucherId}`

const pocketbookBuilders: PocketbookBuilders = {
  'certificate.created': (now) => ({
    certificateId: objectId(),
    name: 'Certificate of Completion',
    description: 'Awarded for finishing Accessible Frontend Basics',
    imageUrl: `https://ipfs.io/ipfs/bafy${randomHex(16)}`,
    owner: walletAddress(),
    metadata: {
      category: 'education',
      attributes: [{ trait_type: 'Course', value: 'Accessible Frontend Basics' }],
    },
    createdAt: isoAt(now),
  }),
  'certificate.minted': (now) => ({
    certificateId: objectId(),
    tokenId: tokenId(),
    transactionHash: transactionHash(),
    owner: walletAddress(),
    mintedAt: isoAt(now),
  }),
  'certificate.transferred': (now) => ({
    certificateId: objectId(),
    tokenId: tokenId(),
    from: walletAddress(),
    to: walletAddress(),
    transactionHash: transactionHash(),
    transferredAt: isoAt(now),
  }),
  'certificate.burned': (now) => ({
    certificateId: objectId(),
    tokenId: tokenId(),
    transactionHash: transactionHash(),
    burnedAt: isoAt(now),
  }),
  'voucher.created': (now) => {
    const voucherId = objectId()
    return {
      voucherId,
      certificateId: objectId(),
      referenceNumber: referenceNumber(),
      expiry: String(Math.floor((now + 90 * DAY_MS) / 1000)),
      metadata: { recipientEmail: 'sam.rivera@example.com', recipientName: 'Sam Rivera' },
      claimUrl: claimUrl(voucherId),
      createdAt: isoAt(now),
    }
  },
  'voucher.minted': (now) => ({
    voucherId: objectId(),
    certificateId: objectId(),
    referenceNumber: referenceNumber(),
    mintedBy: walletAddress(),
    transactionHash: transactionHash(),
    mintedAt: isoAt(now),
  }),
  'voucher.expired': (now) => ({
    voucherId: objectId(),
    certificateId: objectId(),
    referenceNumber: referenceNumber(),
    expiredAt: isoAt(now),
  }),
  'bulk_job.started': (now) => ({
    jobId: objectId(),
    totalCount: 50,
    startedAt: isoAt(now),
  }),
  'bulk_job.completed': (now) => {
    const links = [objectId(), objectId(), objectId()].map(claimUrl)
    return {
      jobId: objectId(),
      totalCount: 3,
      successCount: 2,
      failedCount: 1,
      voucherLinks: { voucher_all: links, voucher_success: links.slice(0, 2) },
      completedAt: isoAt(now),
    }
  },
  'bulk_job.failed': (now) => ({
    jobId: objectId(),
    error: 'Minting contract rejected the batch: insufficient gas',
    failedAt: isoAt(now),
  }),
}

export interface SamplePocketbookEnvelopeOptions<T extends PocketbookEventType> {
  /** Shallow-merged over the generated `data`. */
  overrides?: Partial<PocketbookEventDataMap[T]>
}

/** A sample Pocketbook envelope with a fresh `evt_` id and `created` set to now (unix seconds). */
export function samplePocketbookEnvelope<T extends PocketbookEventType>(
  type: T,
  options: SamplePocketbookEnvelopeOptions<T> = {},
): PocketbookEnvelope<T, PocketbookEventDataMap[T]> {
  if (!isPocketbookEventType(type)) {
    throw new TypeError(`pocketsflow-webhooks: samplePocketbookEnvelope: unknown Pocketbook event type ${JSON.stringify(type)}`)
  }
  const now = Date.now()
  const build: (now: number) => PocketbookEventDataMap[T] = pocketbookBuilders[type]
  return {
    id: `evt_${randomHex(12)}`,
    type,
    created: Math.floor(now / 1000),
    data: { ...build(now), ...options.overrides },
  }
}

// ---------------------------------------------------------------------------------------------
// Standard Webhooks
// ---------------------------------------------------------------------------------------------

/** A body in the Standard Webhooks convention: `{ type, timestamp (ISO 8601), data }`. */
export function sampleStandardWebhooksPayload(
  type: string,
  data: Record<string, unknown> = {},
): { type: string; timestamp: string; data: Record<string, unknown> } {
  return { type, timestamp: new Date().toISOString(), data: { ...data } }
}
