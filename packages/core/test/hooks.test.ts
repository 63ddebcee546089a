// The hooks option as a list, and the carry hook: what it returns goes with the event through an
// inbox's stored text, but nothing it does can cost a delivery (a rejection, a value no JSON holds).
import { describe, expect, it, vi } from 'vitest'
import { carriedWith, createWebhookReceiver, type WebhookEvent, type WebhookInbox } from '../src/index.js'
import { parseEvent, serializeEvent } from '../src/inbox-toolkit.js'
import { signedRequest } from '../src/testing/index.js'

const SECRET = 'whsec_hooks_test'
const quiet = { debug() {}, info() {}, warn() {}, error() {} }

/** An inbox that stores events as the real ones do (serializeEvent), and keeps the text. */
function textInbox() {
  const stored: string[] = []
  const inbox: WebhookInbox = {
    record: async (event: WebhookEvent) => (stored.push(serializeEvent(event)), true),
    start: () => {},
    close: async () => {},
    deadLetters: async () => [],
    replay: async () => false,
  }
  return { inbox, stored }
}

async function deliver(receiver: ReturnType<typeof createWebhookReceiver>) {
  const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
  return (await receiver.handle({ method: 'POST', headers: req.headers, body: req.body })).response.status
}

describe('the carry hook', () => {
  it('stores its strings with the event; the worker’s copy gives them back', async () => {
    const { inbox, stored } = textInbox()
    const receiver = createWebhookReceiver({ secret: SECRET, logger: quiet, inbox, hooks: { carry: () => ({ traceparent: '00-abc', n: 1 as unknown as string }) } })
    expect(await deliver(receiver)).toBe(200)
    const event = parseEvent(stored[0] as string)
    expect(carriedWith(event)).toEqual({ traceparent: '00-abc' })
  })

  it('a carry that rejects, throws, or returns what no JSON holds costs nothing: 200, stored, nothing carried', async () => {
    const circular: Record<string, unknown> = {}
    circular['self'] = circular
    const errors: unknown[] = []
    const logger = { ...quiet, error: (...args: unknown[]) => void errors.push(args) }
    // Typed as the hook is: what a JavaScript caller (or a careless cast) could still pass.
    for (const carry of [
      async () => {
        throw new Error('tracing backend down')
      },
      () => {
        throw new Error('sync')
      },
      () => ({ big: 10n, circular, long: 'x'.repeat(100_000) }) as unknown as Record<string, string>,
      () => 'abc' as unknown as Record<string, string>,
    ] as (() => Record<string, string>)[]) {
      const { inbox, stored } = textInbox()
      const receiver = createWebhookReceiver({ secret: SECRET, logger, inbox, hooks: [{ carry }, { accepted: () => {} }] })
      expect(await deliver(receiver)).toBe(200)
      expect(stored).toHaveLength(1)
      expect(carriedWith(parseEvent(stored[0] as string))).toBeUndefined()
    }
    await vi.waitFor(() => expect(errors.length).toBeGreaterThanOrEqual(2))
  })
})
