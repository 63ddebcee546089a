// The built entries as packages load them. In CommonJS, @pocketsflow-webhooks/core/inbox must share
// the root's modules with state: the payload text the receiver keeps for an event is what the
// engines' serializeEvent (taken from /inbox) stores, byte for byte (tsup used to give each CommonJS
// entry its own copy). Needs the built dist (pnpm build). And core/node hands whatever a parser kept
// to the receiver, bytes or not: it is never mistaken for an answer.
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { createWebhookReceiver as createSourceReceiver } from '../src/index.js'
import { receiveNodeRequest } from '../src/node.js'
import { signedRequest } from '../src/testing/index.js'

const require = createRequire(import.meta.url)
type Core = typeof import('../src/index.js')
type Toolkit = typeof import('../src/inbox-toolkit.js')
const core = require('@pocketsflow-webhooks/core') as Core
const toolkit = require('@pocketsflow-webhooks/core/inbox') as Toolkit

const SECRET = 'whsec_review_cjs_inbox_entry_0123456789'

/** What the engines do in record(): serializeEvent from the subpath they import it from. */
function inboxStoringWith(serializeEvent: (event: import('../src/index.js').WebhookEvent) => string) {
  const stored: string[] = []
  return {
    stored,
    inbox: {
      async record(event: import('../src/index.js').WebhookEvent) {
        stored.push(serializeEvent(event))
        return true as const
      },
      start() {},
      async close() {},
      async deadLetters() {
        return []
      },
      async replay() {
        return false
      },
    },
  }
}

async function post(body: string) {
  const headers = await core.signWebhook({ secret: SECRET, body, type: 'order.completed' })
  return { method: 'POST', headers, body: Buffer.from(body) }
}

describe('CommonJS: the receiver and @pocketsflow-webhooks/core/inbox agree on the stored payload text', () => {
  it('stores the payload as the text it arrived as (byte for byte), as the ESM build does', async () => {
    const { inbox, stored } = inboxStoringWith(toolkit.serializeEvent)
    const receiver = core.createWebhookReceiver({ secret: SECRET, logger: false, inbox })
    const body = '{"event":"order.completed","amount":1.50,"id":"evt_review_1"}'
    const result = await receiver.handle(await post(body))
    expect(result.response.status).toBe(200)
    expect(stored[0]).toContain('"payload":{"event":"order.completed","amount":1.50,"id":"evt_review_1"}')
    await receiver.close()
  })

  it('a signed body nested 100,000 levels deep is stored and acknowledged, not answered 503', async () => {
    const { inbox } = inboxStoringWith(toolkit.serializeEvent)
    const receiver = core.createWebhookReceiver({ secret: SECRET, logger: false, inbox })
    const depth = 100_000
    const result = await receiver.handle(await post('['.repeat(depth) + ']'.repeat(depth)))
    expect(result.response.status).toBe(200)
    await receiver.close()
  })
})

describe('core/node: a kept rawBody that is not bytes', () => {
  it('is answered by the receiver (400), not handed back as the result', async () => {
    const secret = 'whsec_review_raw_body_0123456789'
    const receiver = createSourceReceiver({ secret, logger: false })
    const delivery = await signedRequest({ secret, type: 'order.completed' })
    const headers = Object.fromEntries(Object.entries(delivery.headers).map(([k, v]) => [k.toLowerCase(), v]))
    const req = { method: 'POST', headers, readableEnded: true } as never
    const result = await receiveNodeRequest(receiver, { req, rawBody: { parsed: 'by some middleware' } as never })
    expect(result.response?.status).toBe(400)
    await receiver.close()
  })
})
