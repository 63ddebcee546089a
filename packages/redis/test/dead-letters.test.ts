// The dead letter's two encodings, without Redis: the marker a job's failedReason carries to its
// next pick-up when writing its dead letter failed, and the stored form of a letter.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  attemptFailureReason,
  decodeDeadLetter,
  decodeDeadLetterMarker,
  encodeDeadLetter,
  encodeDeadLetterMarker,
  type StoredDeadLetter,
} from '../src/dead-letters.js'

const REPORTED = '[dead letter pending] '
const UNREPORTED = '[dead letter pending, unreported] '

/** Any text, lone surrogates, NUL and the markers' own characters included. */
const hostileChar = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code)),
  fc.constantFrom('[', ']', ',', ' ', '\u0000', '\n', '|', '%', ':'),
)
const hostileText = fc.string({ unit: hostileChar, maxLength: 40 })
/** Text that may start with a marker, a near miss of one, or several. */
const markedText = fc
  .tuple(fc.array(fc.constantFrom(REPORTED, UNREPORTED, REPORTED.trimEnd(), UNREPORTED.trimEnd(), '[dead letter pending', ''), { maxLength: 3 }), hostileText)
  .map(([prefixes, rest]) => prefixes.join('') + rest)

describe('the dead-letter marker in a failed job reason', () => {
  it('is the format older workers wrote and read', () => {
    expect(encodeDeadLetterMarker({ lastError: 'boom', reported: true })).toBe('[dead letter pending] boom')
    expect(encodeDeadLetterMarker({ lastError: 'boom', reported: false })).toBe('[dead letter pending, unreported] boom')
    expect(decodeDeadLetterMarker('[dead letter pending] boom')).toEqual({ lastError: 'boom', reported: true })
    expect(decodeDeadLetterMarker('[dead letter pending, unreported] boom')).toEqual({ lastError: 'boom', reported: false })
    expect(decodeDeadLetterMarker('[dead letter pending] ')).toEqual({ lastError: '', reported: true })
  })

  it('round-trips any last error, one that looks like a marker itself included', () => {
    fc.assert(
      fc.property(fc.oneof(hostileText, markedText), fc.boolean(), (lastError, reported) => {
        expect(decodeDeadLetterMarker(encodeDeadLetterMarker({ lastError, reported }))).toEqual({ lastError, reported })
      }),
    )
  })

  it('reads no marker in a reason that does not start with one, or in none', () => {
    expect(decodeDeadLetterMarker(undefined)).toBeUndefined()
    expect(decodeDeadLetterMarker('')).toBeUndefined()
    expect(decodeDeadLetterMarker('[dead letter pending]boom')).toBeUndefined()
    expect(decodeDeadLetterMarker(' [dead letter pending] boom')).toBeUndefined()
    fc.assert(
      fc.property(fc.oneof(hostileText, markedText), (reason) => {
        const decoded = decodeDeadLetterMarker(reason)
        if (!reason.startsWith(REPORTED) && !reason.startsWith(UNREPORTED)) expect(decoded).toBeUndefined()
        // Whatever it reads, encoding it gives the reason back: one marker is stripped, no more.
        else expect(decoded !== undefined && encodeDeadLetterMarker(decoded)).toBe(reason)
      }),
    )
  })
})

describe('the stored form of a dead letter', () => {
  const letter: fc.Arbitrary<StoredDeadLetter> = fc.record(
    {
      event: hostileText,
      type: hostileText,
      attempts: fc.nat(),
      lastError: fc.option(fc.oneof(hostileText, markedText), { nil: undefined }),
      failedAt: fc.integer({ min: 0, max: 4e12 }),
      completed: fc.array(hostileText, { maxLength: 3 }),
      failed: fc.array(hostileText, { maxLength: 3 }),
      reportPending: fc.boolean(),
      jobId: hostileText,
    },
    { requiredKeys: ['event', 'type', 'attempts', 'lastError', 'failedAt'] },
  )

  it('round-trips every field', () => {
    fc.assert(
      fc.property(letter, (l) => {
        expect(decodeDeadLetter(encodeDeadLetter(l))).toEqual(l)
      }),
    )
  })

  it('refuses text that is not JSON (listed as unreadable, skipped)', () => {
    expect(() => decodeDeadLetter('{"event":')).toThrow()
    expect(() => decodeDeadLetter('')).toThrow()
  })
})

describe('a failed attempt\'s reason', () => {
  it('never reads as a marker, whatever a handler threw, and is the message itself otherwise', () => {
    const markerLike = fc.oneof(
      fc.string(),
      fc.tuple(fc.constantFrom('[dead letter pending] ', '[dead letter pending, unreported] '), fc.string()).map(([prefix, rest]) => prefix + rest),
    )
    fc.assert(
      fc.property(markerLike, (message) => {
        const reason = attemptFailureReason(message)
        expect(decodeDeadLetterMarker(reason)).toBeUndefined()
        if (decodeDeadLetterMarker(message) === undefined) expect(reason).toBe(message)
        else expect(reason.endsWith(message)).toBe(true)
      }),
    )
  })
})
