/**
 * Pocketsflow event types and payload shapes.
 *
 * Two shapes are in circulation for the same events: the one in the public events reference and
 * the one the vendor's own sample receiver sends (subscription and invoice events differ most).
 * Every payload interface admits both, so a field is required only when every known shape of that
 * event carries it, and every interface keeps an index signature because the sender adds fields
 * without notice.
 */

/** Canonical event types, in the order of the vendor's reference. */
export const POCKETSFLOW_EVENT_TYPES = /* @__PURE__ */ Object.freeze([
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
] as const)

export type PocketsflowEventType = (typeof POCKETSFLOW_EVENT_TYPES)[number]

/**
 * Alternative spellings the sender uses for a canonical type. Handlers are registered under the
 * canonical name so that one handler sees the event whichever spelling arrives.
 */
export const POCKETSFLOW_EVENT_ALIASES = /* @__PURE__ */ Object.freeze({
  'customer.subscription.pause': 'customer.subscription.paused',
} as const)

export type PocketsflowEventAlias = keyof typeof POCKETSFLOW_EVENT_ALIASES

// A Map, not a lookup on the aliases object: strings like `__proto__` or `toString` can't resolve
// to anything inherited, and a string fresh from JSON.parse is hashed, not internalized, per lookup.
const ALIASES: ReadonlyMap<string, string> = /* @__PURE__ */ new Map(/* @__PURE__ */ Object.entries(POCKETSFLOW_EVENT_ALIASES))

/**
 * Maps an alias to its canonical type; any other string comes back unchanged (unknown types are
 * valid deliveries).
 */
export function canonicalPocketsflowType(type: string): string {
  return ALIASES.get(type) ?? type
}

const EVENT_TYPE_SET: ReadonlySet<string> = /* @__PURE__ */ new Set<string>(POCKETSFLOW_EVENT_TYPES)

/** True for canonical types only; pass aliases through {@link canonicalPocketsflowType} first. */
export function isPocketsflowEventType(type: string): type is PocketsflowEventType {
  return EVENT_TYPE_SET.has(type)
}

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

/**
 * Fields the reference lists as present on every payload. The vendor's sample bodies carry only
 * `webhookId` (the type travels in a header), hence all optional. `webhookId` is not guaranteed
 * to be unique per delivery, so it is not an idempotency key.
 */
export interface PocketsflowCommonFields {
  webhookId?: string
  event?: string
  /** Milliseconds since the epoch. */
  timestamp?: number
  testMode?: boolean
  livemode?: boolean
}

/** A buyer as embedded in a payload; every source that sends one includes the email. */
export interface PocketsflowCustomer {
  email: string
  id?: string
  customerId?: string
  firstName?: string
  lastName?: string
  country?: string
  createdAt?: string
  [key: string]: unknown
}

/** A product reference; most events send only the id, some add a name or variant. */
export interface PocketsflowProduct {
  id: string
  /** `null` when the product has no variants. */
  variantId?: string | null
  name?: string
  /** See the note on amounts in {@link OrderCompletedData.amount}. */
  price?: number
  currency?: string
  published?: boolean
  createdAt?: string
  [key: string]: unknown
}

/** The full product record sent by product.created / product.updated. */
export interface PocketsflowCatalogProduct extends PocketsflowProduct {
  name: string
  /** See the note on amounts in {@link OrderCompletedData.amount}. */
  price: number
  currency: string
  published: boolean
  createdAt: string
}

export interface PocketsflowDeletedProduct {
  id: string
  deletedAt: string
  [key: string]: unknown
}

export interface PocketsflowOrderRef {
  id: string
  [key: string]: unknown
}

export interface PocketsflowTax {
  /** See the note on amounts in {@link OrderCompletedData.amount}. */
  amount: number
  /** Fraction, e.g. 0.08 (the same rate as `percentage` / 100). */
  rate: number
  percentage: number
  // Capitalised as the sender spells them (they come straight from a tax provider).
  ToCountry: string
  ToZip: string
  ToState: string
  vatNumber: string | null
  [key: string]: unknown
}

export interface PocketsflowRefund {
  id: string
  /** See the note on amounts in {@link OrderCompletedData.amount}. */
  amount: number
  reason: string
  status: string
  [key: string]: unknown
}

/** Saved payment method in the vendor's subscription/invoice shape (`null` once removed). */
export interface PocketsflowPaymentMethod {
  id: string
  type: string
  // Card-only details: other method types won't carry them.
  brand?: string
  last4?: string
  expMonth?: number
  expYear?: number
  [key: string]: unknown
}

/**
 * A subscription as embedded in subscription, invoice and trial events. The reference sends the
 * billing details; the vendor shape sends only `id` and `customerId`, so only `id` is certain.
 */
export interface PocketsflowSubscription {
  id: string
  customerId?: string
  status?: string
  billingInterval?: string
  /** ISO 8601. */
  currentPeriodStart?: string
  /** ISO 8601. */
  currentPeriodEnd?: string
  cancelAtPeriodEnd?: boolean
  trialStart?: string | null
  trialEnd?: string | null
  canceledAt?: string
  daysUntilTrialEnd?: number
  [key: string]: unknown
}

/** The buyer's membership record in the vendor shape; this is what `portalUrl` points at. */
export interface PocketsflowSubscriptionCustomer {
  id: string
  status: string
  active: boolean
  cancelAtPeriodEnd: boolean
  paused: boolean
  [key: string]: unknown
}

export interface PocketsflowInvoice {
  id: string
  status?: string
  /** See the note on amounts in {@link OrderCompletedData.amount}. */
  amountDue?: number
  /** See the note on amounts in {@link OrderCompletedData.amount}. */
  amountPaid?: number
  currency?: string
  periodStart?: string
  periodEnd?: string
  paidAt?: string
  attemptCount?: number
  nextPaymentAttempt?: string
  [key: string]: unknown
}

export interface PocketsflowError {
  code: string
  message: string
  [key: string]: unknown
}

export interface PocketsflowPaymentIntent {
  id: string
  /** See the note on amounts in {@link OrderCompletedData.amount}. */
  amount: number
  currency: string
  status: string
  [key: string]: unknown
}

export interface PocketsflowReview {
  id: string
  rating: number
  review: string
  createdAt: string
  [key: string]: unknown
}

export interface PocketsflowVerificationSession {
  id: string
  status: string
  verifiedAt?: string
  requiredFields?: string[]
  [key: string]: unknown
}

/** The seller account (not a buyer) in identity verification events. */
export interface PocketsflowUser {
  id: string
  email: string
  [key: string]: unknown
}

/**
 * Top-level fields that only the vendor shape of subscription and invoice events carries.
 * Kept in one place because both event families share them.
 */
export interface PocketsflowSubscriptionVendorFields {
  subscriptionCustomer?: PocketsflowSubscriptionCustomer
  subscriptionCustomerId?: string
  status?: string
  paymentMethod?: PocketsflowPaymentMethod | null
  /** Self-service portal link for this buyer's subscription. */
  portalUrl?: string
  /** Your own id for the buyer, passed through from checkout. */
  clientReferenceId?: string
  metadata?: Record<string, unknown>
}

// ---------------------------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------------------------

export interface OrderCompletedData extends PocketsflowCommonFields {
  product: PocketsflowProduct & { variantId: string | null }
  order: PocketsflowOrderRef
  currency: string
  customer: PocketsflowCustomer & { firstName: string; lastName: string }
  /** Optional: an untaxed order may well come without it, and one missing object must not crash a handler. */
  tax?: PocketsflowTax
  /**
   * Total including tax. The sources disagree on the unit: the events reference shows decimals
   * (64.99), the vendor's samples the smallest currency unit (1500 = 15.00). Check against your
   * own deliveries before doing arithmetic; the same caveat applies to every amount field.
   */
  amount: number
  /** Subtotal before tax; same unit caveat as {@link OrderCompletedData.amount}. */
  amountBeforeTax?: number
  metadata?: Record<string, unknown>
  [key: string]: unknown
}

export interface OrderRefundedData extends PocketsflowCommonFields {
  order: PocketsflowOrderRef
  refund: PocketsflowRefund
  customer: PocketsflowCustomer
  product: PocketsflowProduct
  [key: string]: unknown
}

/** created / updated / deleted / paused / resumed, in either shape. */
export interface SubscriptionEventData
  extends PocketsflowCommonFields,
    PocketsflowSubscriptionVendorFields {
  subscription: PocketsflowSubscription
  customer: PocketsflowCustomer
  product?: PocketsflowProduct
  /** Reference shape only; see the note on amounts in {@link OrderCompletedData.amount}. */
  amount?: number
  currency?: string
  [key: string]: unknown
}

/**
 * The reference puts `trialEnd` and `daysUntilTrialEnd` on `subscription`; they stay optional
 * because the vendor shape (which omits them) is used for all subscription events.
 */
export interface SubscriptionTrialWillEndData extends SubscriptionEventData {}

/**
 * created / upcoming / paid / payment_succeeded / payment_failed. The reference nests an
 * `invoice` object; the vendor shape has none and puts `amount`/`currency` at the top level.
 */
export interface InvoiceEventData extends PocketsflowCommonFields, PocketsflowSubscriptionVendorFields {
  subscription: PocketsflowSubscription
  customer: PocketsflowCustomer
  invoice?: PocketsflowInvoice
  /** Vendor shape only; see the note on amounts in {@link OrderCompletedData.amount}. */
  amount?: number
  currency?: string
  /** Sent with payment_failed in the reference shape. */
  error?: PocketsflowError
  [key: string]: unknown
}

/** Shared by both payment_intent events. */
export interface PaymentIntentEventData extends PocketsflowCommonFields {
  paymentIntent: PocketsflowPaymentIntent
  customer?: PocketsflowCustomer
  error?: PocketsflowError
  [key: string]: unknown
}

export interface PaymentIntentSucceededData extends PaymentIntentEventData {
  customer: PocketsflowCustomer
}

export interface PaymentIntentPaymentFailedData extends PaymentIntentEventData {
  error: PocketsflowError
}

/** product.created / product.updated. */
export interface ProductEventData extends PocketsflowCommonFields {
  product: PocketsflowCatalogProduct
  [key: string]: unknown
}

export interface ProductDeletedData extends PocketsflowCommonFields {
  product: PocketsflowDeletedProduct
  [key: string]: unknown
}

export interface CustomerCreatedData extends PocketsflowCommonFields {
  customer: PocketsflowCustomer & { id: string; firstName: string; lastName: string; country: string }
  /**
   * The first product bought. Optional because the event also fires for customers created
   * through the API, where there is no purchase.
   */
  product?: PocketsflowProduct
  order?: PocketsflowOrderRef
  metadata?: Record<string, unknown>
  [key: string]: unknown
}

export interface ReviewCreatedData extends PocketsflowCommonFields {
  review: PocketsflowReview
  product: PocketsflowProduct & { name: string }
  customer: PocketsflowCustomer & { firstName: string }
  order: PocketsflowOrderRef
  [key: string]: unknown
}

/** Shared by the three identity events; only `verified` is documented with a `user`. */
export interface IdentityVerificationEventData extends PocketsflowCommonFields {
  verificationSession: PocketsflowVerificationSession
  user?: PocketsflowUser
  [key: string]: unknown
}

export interface IdentityVerificationVerifiedData extends IdentityVerificationEventData {
  user: PocketsflowUser
}

/** The payload type for each canonical event type. */
export interface PocketsflowEventDataMap {
  'order.completed': OrderCompletedData
  'order.refunded': OrderRefundedData
  'customer.subscription.created': SubscriptionEventData
  'customer.subscription.updated': SubscriptionEventData
  'customer.subscription.deleted': SubscriptionEventData
  'customer.subscription.paused': SubscriptionEventData
  'customer.subscription.resumed': SubscriptionEventData
  'customer.subscription.trial_will_end': SubscriptionTrialWillEndData
  'invoice.created': InvoiceEventData
  'invoice.upcoming': InvoiceEventData
  'invoice.paid': InvoiceEventData
  'invoice.payment_succeeded': InvoiceEventData
  'invoice.payment_failed': InvoiceEventData
  'payment_intent.succeeded': PaymentIntentSucceededData
  'payment_intent.payment_failed': PaymentIntentPaymentFailedData
  'product.created': ProductEventData
  'product.updated': ProductEventData
  'product.deleted': ProductDeletedData
  'customer.created': CustomerCreatedData
  'review.created': ReviewCreatedData
  'identity.verification_session.verified': IdentityVerificationVerifiedData
  'identity.verification_session.processing': IdentityVerificationEventData
  'identity.verification_session.requires_input': IdentityVerificationEventData
}
