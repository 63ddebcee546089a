// Next.js 14 (no after(), webpack): the fixture app in test/fixtures/next14, built and served for
// real. Without after() the handlers must run before the 200 (the "inline" fallback), on every route.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildAndStart, deliver, type RunningApp } from './next-app.js'

const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'next14')
const secret = 'whsec_fixture_next14'
let app: RunningApp

beforeAll(async () => {
  app = await buildAndStart(dir, { POCKETSFLOW_WEBHOOK_SECRET: secret })
}, 240_000)

afterAll(async () => {
  await app?.stop()
})

describe.each([
  ['App Router, Node.js runtime', '/webhooks/pocketsflow', 'app'],
  ['App Router, Edge runtime', '/webhooks/pocketsflow-edge', 'edge'],
  ['Pages Router', '/api/webhooks/pocketsflow', 'pages'],
] as const)('Next 14, %s', (_name, path, route) => {
  it('runs the handlers before the 200 (no after() to defer them to), once per event', async () => {
    const email = `${route}@next14.example`
    let sent: RequestInit = {}
    const res = await deliver(`${app.url}${path}`, { secret, type: 'order.completed', overrides: { customer: { email }, metadata: { slowMs: 300 } } }, (req) => (sent = req))
    expect(res).toMatchObject({ status: 200, body: '{"received":true}' })
    expect((await app.effects()).filter((e) => e.email === email)).toEqual([{ route, type: 'order.completed', id: expect.any(String), email, at: expect.any(Number) }])
    const again = await fetch(`${app.url}${path}`, sent)
    expect(await again.text()).toBe('{"received":true,"duplicate":true}')
    expect((await app.effects()).filter((e) => e.email === email)).toHaveLength(1)
  })

  it('rejects a tampered delivery with 401', async () => {
    const res = await deliver(`${app.url}${path}`, { secret, type: 'order.completed' }, (req) => ({ ...req, body: `${req.body} ` }))
    expect(res.status).toBe(401)
  })
})

describe('Next 14, Pages Router without bodyParser: false', () => {
  it('answers 500, and the log names the fix', async () => {
    const res = await deliver(`${app.url}/api/webhooks/forgot-config`, { secret, type: 'order.completed' })
    expect(res).toMatchObject({ status: 500, body: '{"error":"webhook receiver misconfigured"}' })
    expect(app.output()).toContain('add `export const config = { api: { bodyParser: false } }`')
  })
})
