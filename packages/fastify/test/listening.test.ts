// The same plugin behind a real listening server: what app.inject() cannot show (bodies that are
// never sent, chunked uploads, HEAD on the wire, clients that hang up).
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { connect as http2Connect } from 'node:http2'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { pocketsflowWebhook, type DedupeStore, type PocketsflowWebhookOptions } from '../src/index.js'

const SECRET = 'whsec_fastify_listening_test'
const PATH = '/webhooks/pocketsflow'
const quiet = { debug() {}, info() {}, warn() {}, error() {} }

let app: FastifyInstance | undefined

afterEach(async () => {
  await app?.close()
  app = undefined
})

async function listen(options: Partial<PocketsflowWebhookOptions> = {}, setup?: (app: FastifyInstance) => void) {
  const handled: string[] = []
  app = Fastify()
  setup?.(app)
  await app.register(pocketsflowWebhook, { secret: SECRET, logger: quiet, retry: false, onEvent: (event) => void handled.push(event.type), ...options })
  app.post('/api/echo', async (request) => ({ echo: request.body }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}${PATH}`, port, handled }
}

type Answer = { status: number; headers: IncomingMessage['headers']; body: string }

/** Sends headers, then only what `body` says: a promise for the answer, and the request to write more to. */
function send(port: number, method: string, headers: Record<string, string>, body?: string) {
  const req = httpRequest({ host: '127.0.0.1', port, method, path: PATH, headers })
  const answer = new Promise<Answer>((resolve, reject) => {
    req.once('response', (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk) => (text += chunk))
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
    })
    req.once('error', reject)
  })
  if (body === undefined) req.flushHeaders() // headers only: the body never comes
  else req.end(body)
  return { req, answer }
}

describe('pocketsflowWebhook on a listening Fastify server', () => {
  it('acknowledges, dedupes and rejects real deliveries over HTTP', async () => {
    const { url, handled } = await listen()
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const first = await fetch(url, req)
    expect(first.status).toBe(200)
    expect(await first.json()).toEqual({ received: true })
    expect(await (await fetch(url, req)).json()).toEqual({ received: true, duplicate: true })
    expect((await fetch(url, { ...req, body: req.body.replace('}', ' }') })).status).toBe(401)
    expect((await fetch(url, await signedRequest({ secret: SECRET, type: 'order.completed', body: '{"event":' }))).status).toBe(400)
    expect((await fetch(url.replace(PATH, '/api/echo'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' })).status).toBe(200)
    await vi.waitFor(() => expect(handled).toEqual(['order.completed']))
  })

  it('answers from the headers alone without waiting for a body that never comes, and closes the connection', async () => {
    const { port } = await listen()
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', timestamp: Date.now() - 3_600_000 })
    const { req: pending, answer } = send(port, 'POST', { ...req.headers, 'Content-Length': '100000' })
    const res = await answer
    expect(res.status).toBe(401)
    expect(res.headers['connection']).toBe('close')
    expect(JSON.parse(res.body)).toEqual({ error: 'invalid signature' })
    pending.destroy()
  })

  it('answers 413 from Content-Length before reading the body', async () => {
    const { port } = await listen({ bodyLimit: 1024 })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const { req: pending, answer } = send(port, 'POST', { ...req.headers, 'Content-Length': '5000' })
    const res = await answer
    expect(res.status).toBe(413)
    expect(JSON.parse(res.body)).toEqual({ error: 'payload too large' })
    expect(res.headers['connection']).toBe('close')
    pending.destroy()
  })

  it('answers 413 for a chunked upload that grows past the limit', async () => {
    const { port, handled } = await listen({ bodyLimit: 1024 })
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { padding: 'x'.repeat(8192) } })
    const { answer } = send(port, 'POST', { ...req.headers, 'Transfer-Encoding': 'chunked' }, req.body)
    const res = await answer
    expect(res.status).toBe(413)
    expect(JSON.parse(res.body)).toEqual({ error: 'payload too large' })
    expect(handled).toEqual([])
  })

  it('answers HEAD and GET with 405 and Allow: POST; HEAD without a body', async () => {
    const { port, url } = await listen()
    const head = await send(port, 'HEAD', {}).answer
    expect(head.status).toBe(405)
    expect(head.headers['allow']).toBe('POST')
    expect(head.body).toBe('')
    const get = await fetch(url)
    expect(get.status).toBe(405)
    expect(get.headers.get('allow')).toBe('POST')
  })

  it('sends the 200 before a blocked handler is released', async () => {
    let release: () => void = () => {}
    const blocked = new Promise<void>((resolve) => (release = resolve))
    const steps: string[] = []
    const { url } = await listen({
      on: {
        'order.completed': async () => {
          steps.push('handler started')
          await blocked
          steps.push('handler finished')
        },
      },
    })
    const res = await fetch(url, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    steps.push(`response ${res.status}`)
    expect(steps).not.toContain('handler finished')
    release()
    await vi.waitFor(() => expect(steps).toContain('handler finished'))
    expect(steps.indexOf('response 200')).toBeLessThan(steps.indexOf('handler finished'))
  })

  it('still runs the handlers of an accepted event when the client hung up before the answer', async () => {
    let claimed: () => void = () => {}
    const claimStarted = new Promise<void>((resolve) => (claimed = resolve))
    let allowClaim: () => void = () => {}
    const claimGate = new Promise<void>((resolve) => (allowClaim = resolve))
    const seen = new Set<string>()
    const slowStore: DedupeStore = {
      async claim(key) {
        claimed()
        await claimGate
        if (seen.has(key)) return false
        seen.add(key)
        return true
      },
      complete() {},
      release(key) {
        seen.delete(key)
      },
    }
    let hungUp: () => void = () => {}
    const serverSawHangUp = new Promise<void>((resolve) => (hungUp = resolve))
    const { port, handled } = await listen({ dedupe: slowStore }, (server) => server.server.on('connection', (socket) => socket.once('close', hungUp)))
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const { req: client, answer } = send(port, 'POST', req.headers, req.body)
    answer.catch(() => {})
    await claimStarted
    client.destroy()
    await serverSawHangUp
    allowClaim()
    await vi.waitFor(() => expect(handled).toEqual(['order.completed']))
  })

  it('app.close() lets running handlers finish before it resolves', async () => {
    let release: () => void = () => {}
    const blocked = new Promise<void>((resolve) => (release = resolve))
    const steps: string[] = []
    const { url } = await listen({ on: { 'order.completed': () => blocked.then(() => void steps.push('handler finished')) } })
    expect((await fetch(url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    const closing = app!.close().then(() => void steps.push('closed'))
    app = undefined
    await new Promise((r) => setTimeout(r, 50))
    expect(steps).toEqual([])
    release()
    await closing
    expect(steps).toEqual(['handler finished', 'closed'])
  })

  it('works over HTTP/2, where an early answer needs no connection header', async () => {
    const warnings: string[] = []
    const onWarning = (warning: Error) => void warnings.push(warning.message)
    process.on('warning', onWarning)
    const handled: string[] = []
    const h2 = Fastify({ http2: true })
    await h2.register(pocketsflowWebhook, { secret: SECRET, logger: quiet, onEvent: (event) => void handled.push(event.type) })
    await h2.listen({ port: 0, host: '127.0.0.1' })
    const client = http2Connect(`http://127.0.0.1:${(h2.server.address() as AddressInfo).port}`)
    const deliver = (headers: Record<string, string>, body?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const lower = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]))
        const stream = client.request({ ':method': 'POST', ':path': PATH, ...lower })
        let status = 0
        let text = ''
        stream.on('response', (h) => (status = Number(h[':status'])))
        stream.setEncoding('utf8')
        stream.on('data', (chunk) => (text += chunk))
        stream.on('end', () => resolve({ status, body: text }))
        stream.on('error', reject)
        if (body !== undefined) stream.end(body)
      })
    try {
      const valid = await signedRequest({ secret: SECRET, type: 'order.completed' })
      expect(await deliver(valid.headers, valid.body)).toEqual({ status: 200, body: '{"received":true}' })
      const stale = await signedRequest({ secret: SECRET, type: 'order.completed', timestamp: Date.now() - 3_600_000 })
      // The body never comes: the answer is from the headers alone.
      expect((await deliver({ ...stale.headers, 'Content-Length': '5000' })).status).toBe(401)
      await vi.waitFor(() => expect(handled).toEqual(['order.completed']))
      expect(warnings.filter((message) => /connection header/i.test(message))).toEqual([])
    } finally {
      client.close()
      await h2.close()
      process.off('warning', onWarning)
    }
  })
})
