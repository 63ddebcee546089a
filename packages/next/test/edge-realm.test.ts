// Next's self-hosted Edge runtime (`next start`, `next dev`) runs route code in a vm context: the
// promises crypto.subtle returns there are not instances of the route code's own Promise. The
// Edge entry must still verify deliveries (the core checks for thenables, not for this realm's Promise).
import { runInNewContext } from 'node:vm'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { pocketsflowWebhook } from '../src/edge.js'

const SECRET = 'whsec_next_edge_realm'
const foreignPromise = runInNewContext('(p) => new Promise((resolve, reject) => p.then(resolve, reject))') as <T>(p: Promise<T>) => Promise<T>

afterEach(() => {
  vi.restoreAllMocks()
})

describe('Edge entry in a sandbox whose Web Crypto promises come from another realm', () => {
  it('verifies deliveries, and leaves crypto.subtle as it found it', async () => {
    const subtle = globalThis.crypto.subtle
    const original = subtle.importKey
    const importKey = vi
      .spyOn(subtle, 'importKey')
      .mockImplementation(((...args: Parameters<typeof original>) => foreignPromise(Reflect.apply(original, subtle, args) as Promise<CryptoKey>)) as typeof original)
    expect(subtle.importKey('raw', new Uint8Array(8), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']) instanceof Promise).toBe(false)

    const handled = vi.fn()
    const POST = pocketsflowWebhook({ secret: SECRET, logger: false, onEvent: handled })
    expect(subtle.importKey).toBe(importKey)

    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const res = await POST(new Request('https://edge.example/webhooks/pocketsflow', req))
    expect(res.status).toBe(200)
    expect(handled).toHaveBeenCalledOnce()
    expect((await POST(new Request('https://edge.example/webhooks/pocketsflow', { ...req, body: `${req.body} ` }))).status).toBe(401)
  })

  it('takes body chunks whose Uint8Array belongs to another realm', async () => {
    const POST = pocketsflowWebhook({ secret: SECRET, logger: false })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const chunk = (runInNewContext('(bytes) => Uint8Array.from(bytes)') as (bytes: Uint8Array) => Uint8Array)(new TextEncoder().encode(req.body))
    expect(chunk instanceof Uint8Array).toBe(false)
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(chunk)
        controller.close()
      },
    })
    const res = await POST(new Request('https://edge.example/webhooks/pocketsflow', { method: 'POST', headers: req.headers, body, duplex: 'half' } as RequestInit))
    expect(res.status).toBe(200)
  })
})
