import type { INestApplication } from '@nestjs/common'
import { execFile, spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { AccessService } from './src/access.service.js'
import { createApp } from './src/app.js'

const dir = dirname(fileURLToPath(import.meta.url))
const SECRET = 'whsec_example_nestjs'
const API_KEY = 'key_example_nestjs'

describe('examples/nestjs in process', () => {
  let app: INestApplication
  let base: string

  beforeEach(async () => {
    vi.stubEnv('POCKETSFLOW_WEBHOOK_SECRET', SECRET)
    vi.stubEnv('API_KEY', API_KEY)
    app = await createApp({ logger: false })
    await app.listen(0, '127.0.0.1')
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`
  })

  afterEach(async () => {
    await app?.close()
    vi.unstubAllEnvs()
  })

  const deliver = async (type: string, overrides?: Record<string, unknown>) =>
    fetch(`${base}/webhooks/pocketsflow`, await signedRequest({ secret: SECRET, type, ...(overrides ? { overrides } : {}) }))
  const customer = async (email: string) =>
    (await fetch(`${base}/customers/${encodeURIComponent(email)}`, { headers: { 'x-api-key': API_KEY } })).json()

  it('grants access on order.completed, through the app-wide API key guard', async () => {
    const res = await deliver('order.completed', { customer: { email: 'ada@example.com' }, product: { id: 'prod_ebook' } })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ received: true })
    await vi.waitFor(async () => expect(await customer('ada@example.com')).toEqual({ products: ['prod_ebook'], membership: null }))
    // The rest of the app still needs the key.
    expect((await fetch(`${base}/customers/ada%40example.com`)).status).toBe(403)
    expect((await fetch(`${base}/health`)).status).toBe(200)
  })

  it('acknowledges a duplicate without granting twice, and revokes on refund', async () => {
    const service = app.get(AccessService)
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { customer: { email: 'bo@example.com' } } })
    expect((await fetch(`${base}/webhooks/pocketsflow`, req)).status).toBe(200)
    const again = await fetch(`${base}/webhooks/pocketsflow`, req)
    expect(await again.json()).toEqual({ received: true, duplicate: true })
    expect((await deliver('order.refunded', { customer: { email: 'bo@example.com' } })).status).toBe(200)
    await vi.waitFor(() => expect(service.log.filter((l) => l.startsWith('revoked'))).toHaveLength(1))
    expect(service.log.filter((l) => l.startsWith('granted'))).toHaveLength(1)
    expect(await customer('bo@example.com')).toEqual({ products: [], membership: null })
  })

  it('handles both spellings of the paused event, and unknown types', async () => {
    const service = app.get(AccessService)
    await deliver('customer.subscription.created', { customer: { email: 'cy@example.com' } })
    await deliver('customer.subscription.pause', { customer: { email: 'cy@example.com' } })
    await vi.waitFor(async () => expect((await customer('cy@example.com')).membership).toBe('paused'))
    expect((await deliver('payout.sent')).status).toBe(200)
    await vi.waitFor(() => expect(service.log).toContain('recorded payout.sent'))
  })

  it('refuses tampered, stale and unsigned deliveries with 401, and other methods with 405', async () => {
    const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await fetch(`${base}/webhooks/pocketsflow`, { ...req, body: req.body.replace('}', ' }') })).status).toBe(401)
    const stale = await signedRequest({ secret: SECRET, type: 'order.completed', timestamp: Date.now() - 3_600_000 })
    expect((await fetch(`${base}/webhooks/pocketsflow`, stale)).status).toBe(401)
    expect((await fetch(`${base}/webhooks/pocketsflow`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(401)
    const get = await fetch(`${base}/webhooks/pocketsflow`)
    expect(get.status).toBe(405)
    expect(get.headers.get('allow')).toBe('POST')
  })
})

describe('examples/nestjs', () => {
  it('does not start without POCKETSFLOW_WEBHOOK_SECRET', async () => {
    vi.stubEnv('POCKETSFLOW_WEBHOOK_SECRET', undefined as unknown as string)
    try {
      await expect(createApp({ logger: false, abortOnError: false })).rejects.toThrow(/POCKETSFLOW_WEBHOOK_SECRET/)
    } finally {
      vi.unstubAllEnvs()
    }
  })

  it('pnpm build && pnpm start: serves signed deliveries and drains on SIGTERM', async () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
    await promisify(execFile)(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')])
    // Below Linux's ephemeral range (32768+), so no outgoing connection of another test holds it.
    const port = 14000 + (process.pid % 6000)
    const child = spawn(process.execPath, [join(dir, 'dist', 'main.js')], {
      env: { ...process.env, POCKETSFLOW_WEBHOOK_SECRET: SECRET, API_KEY, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    )
    try {
      for (let i = 0; i < 200 && !output.includes('listening on') && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50))
      expect(output).toContain('listening on')
      const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { customer: { email: 'dee@example.com' } } })
      expect((await fetch(`http://127.0.0.1:${port}/webhooks/pocketsflow`, req)).status).toBe(200)
      const res = await fetch(`http://127.0.0.1:${port}/customers/dee%40example.com`, { headers: { 'x-api-key': API_KEY } })
      expect((await res.json()).products).toHaveLength(1)
      child.kill('SIGTERM')
      const { code, signal } = await exited
      // Nest closes the app (draining the receiver), then re-raises the signal.
      expect(code === 0 || signal === 'SIGTERM', output).toBe(true)
    } finally {
      child.kill()
    }
  })
})
