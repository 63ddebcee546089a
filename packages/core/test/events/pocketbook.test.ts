import { describe, it, expect, expectTypeOf } from 'vitest'
import {
  POCKETBOOK_EVENT_TYPES,
  isPocketbookEventType,
  type BulkJobCompletedData,
  type BulkJobFailedData,
  type CertificateCreatedData,
  type PocketbookEnvelope,
  type PocketbookEventDataMap,
  type PocketbookEventType,
  type VoucherCreatedData,
} from '../../src/events/pocketbook.js'

const EXPECTED_TYPES = [
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
] as const

describe('POCKETBOOK_EVENT_TYPES', () => {
  it('lists every type exactly once', () => {
    expect([...POCKETBOOK_EVENT_TYPES].sort()).toEqual([...EXPECTED_TYPES].sort())
    expect(new Set(POCKETBOOK_EVENT_TYPES).size).toBe(POCKETBOOK_EVENT_TYPES.length)
    expect(Object.isFrozen(POCKETBOOK_EVENT_TYPES)).toBe(true)
  })

  it('is a readonly literal tuple matching the data map', () => {
    expectTypeOf(POCKETBOOK_EVENT_TYPES).toEqualTypeOf<typeof EXPECTED_TYPES>()
    expectTypeOf<PocketbookEventType>().toEqualTypeOf<(typeof EXPECTED_TYPES)[number]>()
    expectTypeOf<keyof PocketbookEventDataMap>().toEqualTypeOf<PocketbookEventType>()
  })
})

describe('isPocketbookEventType', () => {
  it('accepts known types and narrows', () => {
    for (const type of POCKETBOOK_EVENT_TYPES) expect(isPocketbookEventType(type)).toBe(true)
    const input: string = 'voucher.minted'
    if (isPocketbookEventType(input)) expectTypeOf(input).toEqualTypeOf<PocketbookEventType>()
  })

  it('rejects unknown, Pocketsflow and prototype-named strings', () => {
    for (const type of ['order.completed', 'certificate', 'bulk_job.Completed', '', '__proto__', 'constructor', 'toString']) {
      expect(isPocketbookEventType(type)).toBe(false)
    }
  })
})

// Envelopes as Pocketbook documents them (values changed).
const certificateCreated = {
  id: 'evt_a81c0f',
  type: 'certificate.created' as const,
  created: 1736935800,
  data: {
    certificateId: '6788b0f1c2d3e4f5a6b7c8d9',
    name: 'Workshop Attendance',
    description: 'Attended the two-day accessibility workshop',
    imageUrl: 'https://ipfs.io/ipfs/bafybeigdyrzt',
    owner: '0x9f8e7d6c5b4a39281706f5e4d3c2b1a098765432',
    metadata: { category: 'events', attributes: [{ trait_type: 'City', value: 'Lisbon' }, { trait_type: 'Year', value: 2025 }] },
    createdAt: '2025-01-15T10:30:00Z',
  },
}

const voucherCreated = {
  id: 'evt_a81c10',
  type: 'voucher.created',
  created: 1736936400,
  data: {
    voucherId: '6788b0f1c2d3e4f5a6b7c8da',
    certificateId: '6788b0f1c2d3e4f5a6b7c8d9',
    referenceNumber: 'PB-7Q2K',
    expiry: '1768472400',
    metadata: { recipientEmail: 'noor@example.com', recipientName: 'Noor Saleh' },
    claimUrl: 'https://pocketbook.studio/claim/6788b0f1c2d3e4f5a6b7c8da',
    createdAt: '2025-01-15T10:40:00Z',
  },
}

const bulkCompleted = {
  id: 'evt_a81c11',
  type: 'bulk_job.completed',
  created: 1736938000,
  data: {
    jobId: '6788b0f1c2d3e4f5a6b7c8db',
    totalCount: 20,
    successCount: 20,
    failedCount: 0,
    voucherLinks: { voucher_all: ['https://pocketbook.studio/claim/a'], voucher_success: ['https://pocketbook.studio/claim/a'] },
    completedAt: '2025-01-15T11:06:40Z',
  },
}

describe('envelope and data types', () => {
  it('admit the documented envelopes', () => {
    expectTypeOf(certificateCreated).toExtend<PocketbookEnvelope<'certificate.created', CertificateCreatedData>>()
    expectTypeOf(voucherCreated.data).toExtend<VoucherCreatedData>()
    expectTypeOf(bulkCompleted.data).toExtend<PocketbookEventDataMap['bulk_job.completed']>()
    expectTypeOf(bulkCompleted).toExtend<PocketbookEnvelope>()

    const others = [
      { certificateId: 'c', tokenId: '1', transactionHash: '0xab', owner: '0x1', mintedAt: '2025-01-15T10:35:00Z' } satisfies PocketbookEventDataMap['certificate.minted'],
      { certificateId: 'c', tokenId: '1', from: '0x1', to: '0x2', transactionHash: '0xcd', transferredAt: '2025-01-15T10:40:00Z' } satisfies PocketbookEventDataMap['certificate.transferred'],
      { certificateId: 'c', tokenId: '1', transactionHash: '0xef', burnedAt: '2025-01-15T10:45:00Z' } satisfies PocketbookEventDataMap['certificate.burned'],
      { voucherId: 'v', certificateId: 'c', referenceNumber: 'PB-1', mintedBy: '0x1', transactionHash: '0x12', mintedAt: '2025-01-15T10:55:00Z' } satisfies PocketbookEventDataMap['voucher.minted'],
      { voucherId: 'v', certificateId: 'c', referenceNumber: 'PB-1', expiredAt: '2025-01-15T11:00:00Z' } satisfies PocketbookEventDataMap['voucher.expired'],
      { jobId: 'j', totalCount: 5, startedAt: '2025-01-15T11:05:00Z' } satisfies PocketbookEventDataMap['bulk_job.started'],
      { jobId: 'j', error: 'Processing error', failedAt: '2025-01-15T11:10:00Z' } satisfies BulkJobFailedData,
    ]
    expect(others).toHaveLength(7)
  })

  it('defaults to a loose envelope for types the library does not know yet', () => {
    const future = { id: 'evt_1', type: 'certificate.revoked', created: 1736935800, data: { certificateId: 'c', reason: 'fraud' } }
    expectTypeOf(future).toExtend<PocketbookEnvelope>()
    expectTypeOf<PocketbookEnvelope['data']>().toEqualTypeOf<Record<string, unknown>>()
    expect(future.type).toBe('certificate.revoked')
  })

  it('admit fields Pocketbook adds later', () => {
    const data = { jobId: 'j', error: 'x', failedAt: '2025-01-15T11:10:00Z', retryable: false } satisfies BulkJobFailedData
    expect(data.retryable).toBe(false)
  })

  it('reject wrong shapes', () => {
    // @ts-expect-error certificateId is required
    const noId: PocketbookEventDataMap['certificate.burned'] = { tokenId: '1', transactionHash: '0x', burnedAt: '2025-01-15T10:45:00Z' }
    // @ts-expect-error counts are numbers
    const stringCount: BulkJobCompletedData = { ...bulkCompleted.data, successCount: '20' }
    // @ts-expect-error the envelope's type must match its type parameter
    const wrongType: PocketbookEnvelope<'voucher.created', VoucherCreatedData> = { ...voucherCreated, type: 'voucher.minted' }
    // @ts-expect-error created is unix seconds as a number
    const stringCreated: PocketbookEnvelope = { ...bulkCompleted, created: '1736938000' }
    expect([noId, stringCount, wrongType, stringCreated]).toHaveLength(4)
  })
})
