// diagnoseDelivery on hostile input: it runs on whatever reaches `listen`, so it must return, and cheaply.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { PROVIDERS, signWebhook } from '@pocketsflow-webhooks/core'
import { MAX_NESTING, nestsDeeperThan } from '../src/depth.js'
import { diagnoseDelivery, RESERIALIZE_LIMIT } from '../src/diagnose.js'

const SECRET = 'whsec_diagnose_test_secret'
const nestedArrays = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`
const nestedObjects = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`

/** A delivery signed with another secret than the one diagnosed: the signature_mismatch path, which tries every body form. */
async function forged(body: string | Uint8Array) {
  return { secret: SECRET, headers: await signWebhook({ secret: 'whsec_someone_else', body, type: 'order.completed' }), body }
}

const messages = (diagnosis: { findings: readonly { message: string }[] }) => diagnosis.findings.map((f) => f.message).join('\n')

describe('diagnoseDelivery on hostile bodies', () => {
  it.each([
    ['arrays', nestedArrays(10_000)],
    ['objects', nestedObjects(10_000)],
  ])('returns for a body of 10,000 nested %s, saying why the JSON forms were not tried', async (_label, body) => {
    const diagnosis = await diagnoseDelivery(await forged(body))
    expect(diagnosis).toMatchObject({ verified: false, reason: 'signature_mismatch' })
    expect(messages(diagnosis)).toContain(`the body nests deeper than ${MAX_NESTING} levels`)
    expect(messages(diagnosis)).toContain('wrong secret')
  })

  it('verifies a correctly signed deeply nested body as usual', async () => {
    const body = `{"event":"order.completed","data":${nestedArrays(10_000)}}`
    const headers = await signWebhook({ secret: SECRET, body, type: 'order.completed' })
    expect((await diagnoseDelivery({ secret: SECRET, headers, body })).verified).toBe(true)
  })

  it('still explains a re-serialized body nested as deep as the limit', async () => {
    const received = `{"event":"order.completed","data":${nestedArrays(MAX_NESTING - 1)}}`
    const signed = JSON.stringify(JSON.parse(received), null, 2)
    const headers = await signWebhook({ secret: SECRET, body: signed, type: 'order.completed' })
    const diagnosis = await diagnoseDelivery({ secret: SECRET, headers, body: received })
    expect(messages(diagnosis)).toContain('the signature matches pretty-printed JSON (2 spaces)')
  })

  it('returns for a 1 MiB body, trying the byte-level edits but not the JSON forms', async () => {
    const body = JSON.stringify({ event: 'order.completed', filler: 'x'.repeat(1024 * 1024) })
    const diagnosis = await diagnoseDelivery(await forged(new TextEncoder().encode(body)))
    expect(messages(diagnosis)).toContain(`over the ${RESERIALIZE_LIMIT / 1024} KiB the diagnosis re-serializes`)

    const headers = await signWebhook({ secret: SECRET, body: `${body}\n`, type: 'order.completed' })
    const edited = await diagnoseDelivery({ secret: SECRET, headers, body })
    expect(messages(edited)).toContain('the signature matches the body with a trailing newline')
  })

  it('keeps the JSON forms for bodies up to the limit', async () => {
    const signed = JSON.stringify({ event: 'order.completed', filler: 'x'.repeat(RESERIALIZE_LIMIT - 100) })
    const headers = await signWebhook({ secret: SECRET, body: signed, type: 'order.completed' })
    const diagnosis = await diagnoseDelivery({ secret: SECRET, headers, body: JSON.stringify(JSON.parse(signed), null, 2) })
    expect(messages(diagnosis)).toContain('the signature matches compact JSON')
  })
})

describe('diagnoseDelivery while a server waits', () => {
  // listen's one-diagnosis-at-a-time only turns requests away if a diagnosis spans turns of the event loop.
  it('gives the event loop turns between its HMACs', async () => {
    let turned = false
    setImmediate(() => (turned = true))
    await diagnoseDelivery(await forged('{"event":"order.completed"}'))
    expect(turned).toBe(true)
  })
})

describe('nestsDeeperThan', () => {
  it('counts arrays and objects, not scalars, without recursion', () => {
    expect(nestsDeeperThan(1, 0)).toBe(false)
    expect(nestsDeeperThan([], 0)).toBe(true)
    expect(nestsDeeperThan([[1], { a: 1 }], 2)).toBe(false)
    expect(nestsDeeperThan([[1], { a: {} }], 2)).toBe(true)
    expect(nestsDeeperThan(JSON.parse(nestedArrays(100_000)), MAX_NESTING)).toBe(true)
  })
})

describe('diagnoseDelivery never throws', () => {
  // Bodies as they arrive: any text or bytes, JSON of any shape, and JSON nested far too deep.
  const body = fc.oneof(
    fc.string(),
    fc.uint8Array({ maxLength: 256 }),
    fc.json(),
    fc.tuple(fc.integer({ min: 0, max: 20_000 }), fc.boolean()).map(([levels, arrays]) => (arrays ? nestedArrays(levels) : nestedObjects(levels))),
  )
  const headerValue = fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 }), fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }))
  const headerName = fc.oneof(
    fc.string(),
    fc.constantFrom('x-pocketsflow-signature', 'x-pocketsflow-timestamp', 'x-webhook-signature', 'webhook-signature', 'webhook-timestamp', 'webhook-id', '__proto__'),
  )
  const secret = fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 3 }))

  it('on arbitrary bodies, headers, secrets and providers', async () => {
    await fc.assert(
      fc.asyncProperty(body, fc.dictionary(headerName, headerValue), secret, fc.constantFrom(...PROVIDERS), async (body, headers, secret, provider) => {
        const diagnosis = await diagnoseDelivery({ provider, secret, headers, body })
        expect(diagnosis.findings.length).toBeGreaterThan(0)
      }),
      { numRuns: 300 },
    )
  })

  it('on arbitrary bodies under a signature made with another secret', async () => {
    await fc.assert(
      fc.asyncProperty(body, async (body) => {
        const diagnosis = await diagnoseDelivery(await forged(body))
        expect(diagnosis.reason).toBe('signature_mismatch')
      }),
      { numRuns: 200 },
    )
  })
})
