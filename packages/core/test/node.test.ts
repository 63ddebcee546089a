import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createWebhookReceiver, type WebhookReceiverOptions } from '../src/index.js'
import { receiveNodeRequest, sendNodeResponse } from '../src/node.js'
import { signedRequest } from '../src/testing/index.js'

const SECRET = 'whsec_node_glue'
let server: Server | undefined

afterEach(() => {
  server?.close()
  server = undefined
})

async function start(
  options: Partial<WebhookReceiverOptions> = {},
  prepare: (req: IncomingMessage & { rawBody?: Buffer }) => Promise<{ consumed?: boolean }> | { consumed?: boolean } = () => ({}),
) {
  const receiver = createWebhookReceiver({ secret: SECRET, logger: false, retry: false, ...options })
  server = createServer(async (req: IncomingMessage & { rawBody?: Buffer }, res: ServerResponse) => {
    const { consumed } = await prepare(req)
    const result = await receiveNodeRequest(receiver, { req, rawBody: req.rawBody, consumed: consumed ?? false, mountAdvice: 'mount it first' })
    sendNodeResponse(req, res, result)
  })
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}/webhooks/pocketsflow`, port, receiver }
}

describe('receiveNodeRequest + sendNodeResponse over real HTTP', () => {
  it('accepts a signed delivery; the 200 is on the wire before the handler starts, and does not wait for it', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const events: string[] = []
    let responseFinishedWhenHandlerStarted: boolean | undefined
    const receiverOptions = {
      on: {
        'order.completed': async () => {
          events.push('handler started')
          responseFinishedWhenHandlerStarted = lastResponse?.writableFinished
          await gate // a slow handler: the client must have its 200 before this resolves
          events.push('handler finished')
        },
      },
    }
    let lastResponse: ServerResponse | undefined
    const receiver = createWebhookReceiver({ secret: SECRET, logger: false, retry: false, ...receiverOptions })
    server = createServer(async (req, res) => {
      lastResponse = res
      sendNodeResponse(req, res, await receiveNodeRequest(receiver, { req }))
    })
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const res = await fetch(`http://127.0.0.1:${port}/webhooks/pocketsflow`, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    events.push(`response ${res.status}`)
    expect(await res.json()).toEqual({ received: true })
    await vi.waitFor(() => expect(events).toContain('handler started'))
    expect(events).not.toContain('handler finished')
    expect(responseFinishedWhenHandlerStarted).toBe(true)
    release()
    await vi.waitFor(() => expect(events.at(-1)).toBe('handler finished'))
    expect(events.indexOf('response 200')).toBeLessThan(events.indexOf('handler finished'))
  })

  it('rejects from the headers alone and closes the connection instead of draining the body', async () => {
    const { url } = await start()
    const res = await fetch(url, { method: 'POST', body: '{}' })
    expect(res.status).toBe(401)
    expect(res.headers.get('connection')).toBe('close')
  })

  it('answers 413 when Content-Length or the streamed body is over the limit', async () => {
    const { url, port } = await start({ bodyLimit: 100 })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { padding: 'x'.repeat(500) } })
    expect((await fetch(url, req)).status).toBe(413)
    // chunked: no Content-Length, the limit is enforced while reading
    const status = await new Promise<number>((resolve, reject) => {
      const r = httpRequest({ port, path: '/webhooks/pocketsflow', method: 'POST', headers: { ...req.headers, 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      r.on('error', reject)
      r.write(req.body.slice(0, 300))
      r.end(req.body.slice(300))
    })
    expect(status).toBe(413)
  })

  it('uses raw bytes kept by an earlier parser', async () => {
    const handler = vi.fn()
    const { url } = await start({ on: { 'order.completed': handler } }, async (req) => {
      const chunks: Buffer[] = []
      for await (const chunk of req) chunks.push(chunk as Buffer)
      req.rawBody = Buffer.concat(chunks)
      return { consumed: true }
    })
    const res = await fetch(url, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    expect(res.status).toBe(200)
    await vi.waitFor(() => expect(handler).toHaveBeenCalledOnce())
  })

  it('answers a configuration error (500), not a 401, when the body was consumed and not kept', async () => {
    const { url } = await start({ logger: { debug() {}, info() {}, warn() {}, error: errors } }, async (req) => {
      for await (const _ of req) void _
      return {}
    })
    const res = await fetch(url, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    expect(res.status).toBe(500)
    expect(await res.json()).toEqual({ error: 'webhook receiver misconfigured' })
    expect(errors).toHaveBeenCalledWith(expect.objectContaining({ reason: 'configuration_error' }), expect.stringContaining('mount it first'))
  })
  const errors = vi.fn()

  it('runs the handlers even when the client hangs up before reading the response', async () => {
    const handler = vi.fn()
    const { port } = await start({ on: { 'order.completed': handler } })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    await new Promise<void>((resolve) => {
      const r = httpRequest({ port, path: '/webhooks/pocketsflow', method: 'POST', headers: req.headers })
      r.on('error', () => resolve())
      r.end(req.body, () => setTimeout(() => {
        r.destroy()
        resolve()
      }, 5))
    })
    await vi.waitFor(() => expect(handler).toHaveBeenCalledOnce())
  })

  it('takes a client that hung up before the body was read for the sender\'s doing (400), not a misconfiguration', async () => {
    const receiver = createWebhookReceiver({ secret: SECRET, logger: false })
    const reasons: (string | undefined)[] = []
    server = createServer(async (req) => {
      await new Promise((resolve) => setTimeout(resolve, 20)) // async middleware before ours
      reasons.push((await receiveNodeRequest(receiver, { req })).reason)
    })
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const client = httpRequest({ port, path: '/webhooks/pocketsflow', method: 'POST', headers: { ...req.headers, 'content-length': '5000' } })
    client.on('error', () => {})
    client.write(req.body.slice(0, 10))
    setTimeout(() => client.destroy(), 5)
    await vi.waitFor(() => expect(reasons).toHaveLength(1))
    expect(reasons[0]).toBe('body_unreadable')
  })

  it('answers an early rejection over HTTP/2 too (no Connection header there)', async () => {
    const http2 = await import('node:http2')
    const receiver = createWebhookReceiver({ secret: SECRET, logger: false })
    const h2 = http2.createServer(async (req, res) => {
      const result = await receiveNodeRequest(receiver, { req: req as unknown as IncomingMessage })
      sendNodeResponse(req as unknown as IncomingMessage, res as unknown as ServerResponse, result)
    })
    await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve))
    const client = http2.connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`)
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const stream = client.request({ ':method': 'POST', ':path': '/webhooks/pocketsflow', 'content-type': 'application/json' })
        stream.on('response', (headers) => resolve(Number(headers[':status'])))
        stream.on('error', reject)
        stream.write('{"partial":') // the body is not complete when the answer goes out
      })
      expect(status).toBe(401)
    } finally {
      client.destroy()
      h2.close()
    }
  })
})
