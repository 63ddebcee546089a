/**
 * Pocketbook event types and payload shapes. Unlike Pocketsflow, Pocketbook wraps every payload
 * in an envelope whose `id` identifies the event, so that id is the natural idempotency key.
 * Data interfaces keep an index signature because senders add fields over time.
 */

export const POCKETBOOK_EVENT_TYPES = /* @__PURE__ */ Object.freeze([
  'certificate.created',
  'certificate.minted',
  'certificate.transferred',
  'certificate.burned',
  'voucher.created',
  'voucher.minted',
  'voucher.expired',
  'bulk_job.started',
  'bulk_job.completed',
  'bulk_job.failed',
] as const)

export type PocketbookEventType = (typeof POCKETBOOK_EVENT_TYPES)[number]

const EVENT_TYPE_SET: ReadonlySet<string> = /* @__PURE__ */ new Set<string>(POCKETBOOK_EVENT_TYPES)

export function isPocketbookEventType(type: string): type is PocketbookEventType {
  return EVENT_TYPE_SET.has(type)
}

export interface PocketbookEnvelope<TType extends string = string, TData = Record<string, unknown>> {
  /** `evt_…`; stable across redeliveries of the same event. */
  id: string
  type: TType
  /** Unix seconds (not milliseconds, unlike Pocketsflow's timestamp). */
  created: number
  data: TData
}

// ---------------------------------------------------------------------------------------------
// Certificates. Ids are database ids; `tokenId` only exists once the certificate is on chain.
// ---------------------------------------------------------------------------------------------

export interface PocketbookCertificateAttribute {
  trait_type: string
  value: string | number
  [key: string]: unknown
}

/** NFT-style metadata; free-form beyond the conventional `attributes` list. */
export interface PocketbookCertificateMetadata {
  category?: string
  attributes?: PocketbookCertificateAttribute[]
  [key: string]: unknown
}

export interface CertificateCreatedData {
  certificateId: string
  name: string
  description: string
  imageUrl: string
  /** Wallet address. */
  owner: string
  metadata: PocketbookCertificateMetadata
  /** ISO 8601. */
  createdAt: string
  [key: string]: unknown
}

export interface CertificateMintedData {
  certificateId: string
  /** A decimal string: token ids can exceed Number.MAX_SAFE_INTEGER. */
  tokenId: string
  transactionHash: string
  owner: string
  mintedAt: string
  [key: string]: unknown
}

export interface CertificateTransferredData {
  certificateId: string
  tokenId: string
  /** Previous owner's wallet address. */
  from: string
  /** New owner's wallet address. */
  to: string
  transactionHash: string
  transferredAt: string
  [key: string]: unknown
}

export interface CertificateBurnedData {
  certificateId: string
  tokenId: string
  transactionHash: string
  burnedAt: string
  [key: string]: unknown
}

// ---------------------------------------------------------------------------------------------
// Vouchers: claimable links that mint a certificate for whoever redeems them.
// ---------------------------------------------------------------------------------------------

export interface PocketbookVoucherMetadata {
  recipientEmail?: string
  recipientName?: string
  [key: string]: unknown
}

export interface VoucherCreatedData {
  voucherId: string
  certificateId: string
  /** Human-readable reference, e.g. printed on the voucher. */
  referenceNumber: string
  /** Unix seconds, sent as a string. */
  expiry: string
  metadata: PocketbookVoucherMetadata
  claimUrl: string
  createdAt: string
  [key: string]: unknown
}

export interface VoucherMintedData {
  voucherId: string
  certificateId: string
  referenceNumber: string
  /** Wallet address of the redeemer. */
  mintedBy: string
  transactionHash: string
  mintedAt: string
  [key: string]: unknown
}

export interface VoucherExpiredData {
  voucherId: string
  certificateId: string
  referenceNumber: string
  expiredAt: string
  [key: string]: unknown
}

// ---------------------------------------------------------------------------------------------
// Bulk jobs
// ---------------------------------------------------------------------------------------------

export interface BulkJobStartedData {
  jobId: string
  totalCount: number
  startedAt: string
  [key: string]: unknown
}

export interface PocketbookVoucherLinks {
  /** Claim links for every voucher in the job. */
  voucher_all: string[]
  /** Claim links for the vouchers that were created successfully. */
  voucher_success: string[]
  [key: string]: unknown
}

export interface BulkJobCompletedData {
  jobId: string
  totalCount: number
  successCount: number
  /** A completed job can still contain individual failures. */
  failedCount: number
  voucherLinks: PocketbookVoucherLinks
  completedAt: string
  [key: string]: unknown
}

export interface BulkJobFailedData {
  jobId: string
  /** A message, not a structured error. */
  error: string
  failedAt: string
  [key: string]: unknown
}

/** The `data` type for each Pocketbook event type. */
export interface PocketbookEventDataMap {
  'certificate.created': CertificateCreatedData
  'certificate.minted': CertificateMintedData
  'certificate.transferred': CertificateTransferredData
  'certificate.burned': CertificateBurnedData
  'voucher.created': VoucherCreatedData
  'voucher.minted': VoucherMintedData
  'voucher.expired': VoucherExpiredData
  'bulk_job.started': BulkJobStartedData
  'bulk_job.completed': BulkJobCompletedData
  'bulk_job.failed': BulkJobFailedData
}
