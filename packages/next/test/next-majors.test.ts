// The older majors the peer range accepts, built and served for real: Next.js 14 (no after(),
// webpack) and Next.js 15 (after() since 15.1) from the fixture apps in test/fixtures/next14 and
// test/fixtures/next15; Next 16 is examples/next and test/fixtures/next16-inbox. Without after() the
// App Router's handlers run before the 200 (the "inline" fallback); with it, after the 200. The
// Pages Router has no after() on any major: its handlers run before the 200.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildAndStart, deliver, waitFor, type RunningApp } from './next-app.js'

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures')

describe.each([
  { major: 14, appRouter: 'inline' },
  { major: 15, appRouter: 'after' },
] as const)('Next $major', ({ major, appRouter }) => {
  const secret = `whsec_fixture_next${major}`
  let app: RunningApp

  beforeAll(async () => {
    app = await buildAndStart(join(fixtures, `next${major}`), { POCKETSFLOW_WEBHOOK_SECRET: secret })
  }, 240_000)

  afterAll(async () => {
    await app?.stop()
  })

  it(`serves Next ${major}`, () => {
    expect(app.output()).toMatch(new RegExp(`Next\\.js ${major}\\.`))
  })

  describe.each([
    ['App Router, Node.js runtime', '/webhooks/pocketsflow', 'app', appRouter],
    ['App Router, Edge runtime', '/webhooks/pocketsflow-edge', 'edge', appRouter],
    ['Pages Router', '/api/webhooks/pocketsflow', 'pages', 'inline'],
  ] as const)('%s', (_name, path, route, schedule) => {
    const effectsFor = async (email: string) => (await app.effects()).filter((e) => e.email === email)

    it(`runs the handlers ${schedule === 'after' ? 'after' : 'before'} the 200, once per event`, async () => {
      const email = `${route}@next${major}.example`
      let sent: RequestInit = {}
      const res = await deliver(`${app.url}${path}`, { secret, type: 'order.completed', overrides: { customer: { email }, metadata: { slowMs: 300 } } }, (req) => (sent = req))
      expect(res).toMatchObject({ status: 200, body: '{"received":true}' })
      const atResponse = await effectsFor(email)
      expect(atResponse).toHaveLength(schedule === 'after' ? 0 : 1)
      const effects = await waitFor(async () => ((await effectsFor(email)).length > 0 ? effectsFor(email) : undefined))
      expect(effects).toEqual([{ route, type: 'order.completed', id: expect.any(String), email, at: expect.any(Number) }])
      const again = await fetch(`${app.url}${path}`, sent)
      expect(await again.text()).toBe('{"received":true,"duplicate":true}')
      await new Promise((resolve) => setTimeout(resolve, 400))
      expect(await effectsFor(email)).toHaveLength(1)
    })

    it('rejects a tampered delivery with 401', async () => {
      const res = await deliver(`${app.url}${path}`, { secret, type: 'order.completed' }, (req) => ({ ...req, body: `${req.body} ` }))
      expect(res.status).toBe(401)
    })
  })

  describe('Pages Router without bodyParser: false', () => {
    it('answers 500, and the log names the fix', async () => {
      const res = await deliver(`${app.url}/api/webhooks/forgot-config`, { secret, type: 'order.completed' })
      expect(res).toMatchObject({ status: 500, body: '{"error":"webhook receiver misconfigured"}' })
      expect(app.output()).toContain('add `export const config = { api: { bodyParser: false } }`')
    })
  })
})
