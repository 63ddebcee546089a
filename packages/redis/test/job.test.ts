// The BullMQ job id format, without Redis: enc(eventId)|enc(storableText(type))|uuid.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { storableText } from '@pocketsflow-webhooks/core/inbox'
import { decodeJobIdType, encodeJobId } from '../src/job.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const hostileChar = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code)),
  fc.constantFrom('|', '%', '%E0', '%7C', ':', '\u0000', '{', '}'),
)
const hostileText = fc.string({ unit: hostileChar, maxLength: 40 })

describe('job ids', () => {
  it('name the event id and the type (made storable), in three parts BullMQ accepts', () => {
    fc.assert(
      // Event ids are well-formed text (encodeURIComponent refuses a lone surrogate); types are anything.
      fc.property(hostileText.map(storableText), hostileText, (eventId, type) => {
        const jobId = encodeJobId(eventId, type)
        const parts = jobId.split('|')
        expect(parts).toHaveLength(3)
        expect(jobId).not.toContain(':')
        expect(decodeURIComponent(parts[0] as string)).toBe(eventId)
        expect(parts[2]).toMatch(UUID)
        expect(decodeJobIdType(jobId)).toBe(storableText(type))
      }),
    )
  })

  it('are new for every recording', () => {
    expect(encodeJobId('evt_1', 'order.completed')).not.toBe(encodeJobId('evt_1', 'order.completed'))
  })

  it('read back no type from anything else, and never throw', () => {
    expect(decodeJobIdType(undefined)).toBeUndefined()
    expect(decodeJobIdType('evt_1')).toBeUndefined()
    // Written before types were kept.
    expect(decodeJobIdType('evt_1|0b7c1e1e-7c4f-4a4e-9a53-2f3b1f9b8d11')).toBeUndefined()
    expect(decodeJobIdType('evt_1|%E0%A4%A|0b7c1e1e-7c4f-4a4e-9a53-2f3b1f9b8d11')).toBeUndefined()
    fc.assert(
      fc.property(hostileText, (jobId) => {
        const type = decodeJobIdType(jobId)
        if (jobId.split('|').length !== 3) expect(type).toBeUndefined()
        else expect(type === undefined || typeof type === 'string').toBe(true)
      }),
    )
  })
})
