// The example app, for real: `next build` (Turbopack, Next 16), `next start`, and signed deliveries
// to its three routes. What the handlers did is read back from the app's /api/effects.
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildAndStart, deliver, waitFor, type RunningApp } from '../../packages/next/test/next-app.js'

const dir = dirname(fileURLToPath(import.meta.url))
const secret = 'whsec_example_next'
let app: RunningApp

beforeAll(async () => {
  app = await buildAndStart(dir, { POCKETSFLOW_WEBHOOK_SECRET: secret })
}, 240_000)

afterAll(async () => {
  await app?.stop()
})

const routes = [
  // [name, path, effect's route, handlers run after the 200 (Next's after()) or before it]
  ['App Router, Node.js runtime', '/webhooks/pocketsflow', 'app', 'after'],
  ['App Router, Edge runtime', '/webhooks/pocketsflow-edge', 'edge', 'after'],
  ['Pages Router', '/api/webhooks/pocketsflow', 'pages', 'inline'],
] as const

describe.each(routes)('%s (%s)', (_name, path, route, schedule) => {
  const url = () => `${app.url}${path}`
  const email = (label: string) => `${route}-${label}@example.com`
  const effectsFor = async (address: string) => (await app.effects()).filter((e) => e.email === address)

  it(`acknowledges a valid delivery with 200, and its handler runs ${schedule === 'after' ? 'after' : 'before'} the response`, async () => {
    const address = email('valid')
    // The handler sleeps 1 s before recording: with after() the 200 can't have waited for it.
    const res = await deliver(url(), { secret, type: 'order.completed', overrides: { customer: { email: address }, metadata: { slowMs: 1000 } } })
    expect(res).toMatchObject({ status: 200, body: '{"received":true}' })
    const atResponse = await effectsFor(address)
    if (schedule === 'after') expect(atResponse).toEqual([])
    else expect(atResponse).toHaveLength(1)
    const effects = await waitFor(async () => ((await effectsFor(address)).length > 0 ? effectsFor(address) : undefined))
    expect(effects).toEqual([{ route, type: 'order.completed', id: expect.any(String), email: address, at: expect.any(Number) }])
  })

  it('acknowledges a duplicate with 200 and does not run the handler again', async () => {
    const address = email('duplicate')
    let duplicate: RequestInit = {}
    const first = await deliver(url(), { secret, type: 'order.completed', overrides: { customer: { email: address } } }, (req) => {
      duplicate = req
      return req
    })
    expect(first.status).toBe(200)
    const again = await fetch(url(), duplicate)
    expect([again.status, await again.text()]).toEqual([200, '{"received":true,"duplicate":true}'])
    await waitFor(async () => ((await effectsFor(address)).length > 0 ? true : undefined))
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await effectsFor(address)).toHaveLength(1)
  })

  it('rejects a tampered delivery with 401 and runs nothing', async () => {
    const address = email('tampered')
    const res = await deliver(url(), { secret, type: 'order.completed', overrides: { customer: { email: address } } }, (req) => ({
      ...req,
      body: `${req.body} `,
    }))
    expect(res).toMatchObject({ status: 401, body: '{"error":"invalid signature"}' })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await effectsFor(address)).toEqual([])
  })

  it('rejects a stale delivery with 401', async () => {
    const res = await deliver(url(), { secret, type: 'order.completed', timestamp: Date.now() - 10 * 60_000 })
    expect(res.status).toBe(401)
  })

  it('answers 400 for signed but malformed JSON', async () => {
    const res = await deliver(url(), { secret, type: 'order.completed', body: '{"event":"order.completed",' })
    expect(res).toMatchObject({ status: 400, body: '{"error":"invalid payload"}' })
  })

  it('answers 413 for a body over 1 MiB', async () => {
    const res = await deliver(url(), { secret, type: 'order.completed', overrides: { padding: 'x'.repeat(1024 * 1024) } })
    expect(res.status).toBe(413)
  })

  it('answers 405 for another method', async () => {
    const res = await fetch(url(), { method: 'GET' })
    expect(res.status).toBe(405)
    // The Edge route exports POST only, so Next answers other methods itself, without Allow.
    if (route !== 'edge') expect(res.headers.get('allow')).toBe('POST')
  })

  it('accepts an unknown event type and gives it to onEvent', async () => {
    const res = await deliver(url(), { secret, type: 'payout.sent', overrides: { note: route } })
    expect(res.status).toBe(200)
    await waitFor(async () => ((await app.effects()).some((e) => e.route === route && e.type === 'payout.sent') ? true : undefined))
  })
})

describe('next build', () => {
  it('passed without the webhook secret (it is only read at runtime), with a warning', () => {
    expect(app.output()).toContain('no webhook secret while `next build` loads this route')
  })
})
