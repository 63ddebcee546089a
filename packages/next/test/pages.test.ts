// The Pages Router handler behind a bare Node server standing in for Next's API resolver, with and
// without its body parser (the real thing runs in test/fixtures/next14 and examples/next).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { pocketsflowPagesWebhook, type PocketsflowPagesWebhookOptions } from '../src/index.js'

const SECRET = 'whsec_next_pages_test'
const quiet = { debug() {}, info() {}, warn() {}, error() {} }
const servers: Server[] = []

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))))
})

async function readText(req: IncomingMessage): Promise<string> {
  let text = ''
  for await (const chunk of req) text += chunk
  return text
}

/** Like Next's apiResolver: parses the body first unless `export const config = { api: { bodyParser: false } }`. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>, bodyParser: false | 'json' | 'text' = false) {
  const server = createServer(async (req, res) => {
    if (bodyParser) {
      const text = await readText(req)
      ;(req as { body?: unknown }).body = bodyParser === 'json' && text ? JSON.parse(text) : text
    }
    await handler(req, res)
  })
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/webhooks/pocketsflow`
}

function setup(options: Partial<PocketsflowPagesWebhookOptions> = {}) {
  const handled: string[] = []
  const handler = pocketsflowPagesWebhook({
    secret: SECRET,
    logger: quiet,
    retry: false,
    onEvent: (event) => void handled.push(event.type),
    ...options,
  } as PocketsflowPagesWebhookOptions)
  return { handler, handled }
}

describe('pocketsflowPagesWebhook', () => {
  it('acknowledges a valid delivery with 200; handlers have finished by then (the default, "inline")', async () => {
    const { handler, handled } = setup()
    expect(handler.schedule).toBe('inline')
    const url = await serve(handler)
    const res = await fetch(url, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ received: true })
    expect(handled).toEqual(['order.completed'])
  })

  it('acknowledges a duplicate with 200 and does not run the handler again', async () => {
    const { handler, handled } = setup()
    const url = await serve(handler)
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    await fetch(url, req)
    const res = await fetch(url, req)
    expect(await res.json()).toEqual({ received: true, duplicate: true })
    expect(handled).toHaveLength(1)
  })

  it('answers 401 (tampered, stale), 400 (malformed JSON), 405 with Allow: POST and 413 like every adapter', async () => {
    const { handler, handled } = setup({ bodyLimit: 2048 })
    const url = await serve(handler)
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await fetch(url, { ...req, body: req.body.replace('}', ' }') })).status).toBe(401)
    expect((await fetch(url, await signedRequest({ secret: SECRET, type: 'order.completed', timestamp: Date.now() - 600_000 }))).status).toBe(401)
    expect((await fetch(url, await signedRequest({ secret: SECRET, type: 'order.completed', body: '{"event":' }))).status).toBe(400)
    const get = await fetch(url)
    expect([get.status, get.headers.get('allow')]).toEqual([405, 'POST'])
    const big = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { padding: 'x'.repeat(4096) } })
    expect((await fetch(url, big)).status).toBe(413)
    expect(handled).toEqual([])
  })

  it.each(['json', 'text'] as const)(
    'answers 500 and logs the fix when the body parser ran first (%s)',
    async (parser) => {
      const errors: (string | undefined)[] = []
      const { handler, handled } = setup({ logger: { ...quiet, error: (_obj, msg) => void errors.push(msg) } })
      const url = await serve(handler, parser)
      const res = await fetch(url, await signedRequest({ secret: SECRET, type: 'order.completed' }))
      expect(res.status).toBe(500)
      expect(await res.json()).toEqual({ error: 'webhook receiver misconfigured' })
      expect(errors[0]).toContain('export const config = { api: { bodyParser: false } }')
      expect(handled).toEqual([])
    },
  )

  it('with waitUntil, answers first and hands the handlers, started once the response is sent, to waitUntil', async () => {
    const kept: Promise<unknown>[] = []
    let current: ServerResponse | undefined
    const sentBeforeHandler: boolean[] = []
    const { handler } = setup({ waitUntil: (p) => void kept.push(p), onEvent: () => void sentBeforeHandler.push(current?.writableFinished === true) })
    expect(handler.schedule).toBe('waitUntil')
    const url = await serve((req, res) => {
      current = res
      return handler(req, res)
    })
    expect((await fetch(url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    expect(kept).toHaveLength(1)
    await kept[0]
    expect(sentBeforeHandler).toEqual([true])
  })

  it('with waitUntil, the 200 does not wait for a slow handler', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const kept: Promise<unknown>[] = []
    const done = vi.fn()
    const { handler } = setup({ waitUntil: (p) => void kept.push(p), onEvent: () => gate.then(done) })
    const url = await serve(handler)
    expect((await fetch(url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    expect(done).not.toHaveBeenCalled()
    release()
    await kept[0]
    expect(done).toHaveBeenCalledOnce()
  })

  it("refuses schedule: 'after' (Next runs after() callbacks in the App Router only)", () => {
    expect(() => pocketsflowPagesWebhook({ secret: SECRET, schedule: 'after' as never })).toThrow(/App Router only/)
  })

  it('close() answers 503 from then on', async () => {
    const { handler } = setup()
    const url = await serve(handler)
    await handler.close()
    expect((await fetch(url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(503)
  })
})
