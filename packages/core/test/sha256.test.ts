// The web backend hashes in JavaScript (src/crypto/sha256.ts): it must give node:crypto's digests,
// or an event would get another id on Workers than on Node.js, and dedupe across them would miss.
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { sha256 } from '../src/crypto/sha256.js'
import { createFetchHandler as createNodeHandler, createWebhookVerifier as createNodeVerifier, signWebhook } from '../src/index.js'
import { createFetchHandler as createWebHandler, createWebhookVerifier as createWebVerifier } from '../src/web.js'

const nodeSha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex')
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

describe('sha256 in JavaScript', () => {
  it('matches node:crypto on every padding boundary', () => {
    for (const length of [0, 1, 31, 32, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000]) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 131 + length) & 0xff)
      expect(hex(sha256(bytes)), `length ${length}`).toBe(nodeSha256(bytes))
    }
  })

  it('matches node:crypto on arbitrary inputs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => hex(sha256(bytes)) === nodeSha256(bytes)),
      { numRuns: 2000 },
    )
  })

  it('the Node and the web entries give a delivery the same event id', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'grapheme', maxLength: 200 }), async (note) => {
        const secret = 'whsec_same_id_on_every_runtime'
        const body = JSON.stringify({ event: 'order.completed', note })
        const headers = await signWebhook({ secret, body, type: 'order.completed' })
        const [fromNode, fromWeb] = await Promise.all([
          createNodeVerifier({ secret }).verify(headers, body),
          createWebVerifier({ secret }).verify(headers, body),
        ])
        if (!fromNode.ok || !fromWeb.ok) return false
        return fromNode.event.id === fromWeb.event.id && /^[0-9a-f]{64}$/.test(fromWeb.event.id)
      }),
      { numRuns: 200 },
    )
  })

  it('over-long idempotency keys, short and long (hashed natively past 4 KiB), get the same id on both entries', async () => {
    for (const length of [300, 4096, 4097, 100_000]) {
      const ids: string[] = []
      for (const create of [createNodeHandler, createWebHandler]) {
        const handle = create({
          secret: 'whsec_long_keys',
          logger: false,
          idempotencyKey: () => 'k'.repeat(length - 1) + 'é',
          onEvent: (event) => void ids.push(event.id),
        })
        const body = JSON.stringify({ event: 'order.completed' })
        const headers = await signWebhook({ secret: 'whsec_long_keys', body, type: 'order.completed' })
        expect((await handle(new Request('https://shop.example/webhooks/pocketsflow', { method: 'POST', headers, body }))).status).toBe(200)
        await handle.close()
      }
      expect(ids).toHaveLength(2)
      expect(ids[0]).toMatch(/^sha256:[0-9a-f]{64}$/)
      expect(ids[1], `key of ${length} characters`).toBe(ids[0])
    }
  })
})
