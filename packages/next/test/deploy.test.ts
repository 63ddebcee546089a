// Builds and deploys, for real (test/fixtures/next16-inbox, Next 16): `next build` must not take
// events off a durable inbox, and a SIGTERM to `next start` must not lose a Pages Router delivery
// it acknowledged. What the handlers did is read from PostgreSQL, which outlives the server.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { verifyWebhook } from '@pocketsflow-webhooks/core'
import { serializeEvent } from '@pocketsflow-webhooks/core/inbox'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { migrationSql } from '@pocketsflow-webhooks/postgres'
import { nextBuild, nextStart } from './next-app.js'

const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'next16-inbox')
const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
const secret = 'whsec_fixture_next16_inbox'
const suffix = `${process.pid}_${Date.now().toString(36)}`
const inboxTable = `pfw_next_inbox_${suffix}`
const effectsTable = `pfw_next_effects_${suffix}`
const env = { POCKETSFLOW_WEBHOOK_SECRET: secret, DATABASE_URL, INBOX_TABLE: inboxTable, EFFECTS_TABLE: effectsTable }
const admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 })

const inboxRows = async () => (await admin.query<{ id: string; status: string; attempts: number }>(`SELECT id, status, attempts FROM "${inboxTable}" ORDER BY created_at`)).rows
const effects = async () => (await admin.query<{ route: string; event_id: string; phase: string }>(`SELECT route, event_id, phase FROM "${effectsTable}" ORDER BY at`)).rows

let queuedId = ''

beforeAll(async () => {
  await admin.query(`CREATE TABLE "${effectsTable}" (route text, event_id text, phase text, at timestamptz DEFAULT clock_timestamp())`)
  await admin.query(migrationSql({ table: inboxTable }))
  // An event already in the inbox, waiting for a worker: what a live queue holds during a deploy.
  const req = await signedRequest({ secret, type: 'order.completed' })
  const verified = await verifyWebhook({ secret, headers: req.headers, body: req.body })
  if (!verified.ok) throw new Error(verified.reason)
  queuedId = verified.event.id
  await admin.query(`INSERT INTO "${inboxTable}" (id, type, event) VALUES ($1, $2, $3)`, [queuedId, verified.event.type, serializeEvent(verified.event)])
  // Built with everything it needs at run time, secret and database included.
  await nextBuild(dir, env)
}, 240_000)

afterAll(async () => {
  await admin.query(`DROP TABLE IF EXISTS "${inboxTable}"`)
  await admin.query(`DROP TABLE IF EXISTS "${effectsTable}"`)
  await admin.end()
})

describe('Next.js 16, deploys', () => {
  it('next build loads the inbox route but takes no event off the inbox', async () => {
    expect(await inboxRows()).toEqual([{ id: queuedId, status: 'pending', attempts: 0 }])
    expect(await effects()).toEqual([])
  })

  it('next start: the route processes the queued event once it is first used, and its own deliveries', async () => {
    const app = await nextStart(dir, env, '/api/health')
    try {
      const res = await fetch(`${app.url}/webhooks/pocketsflow`, await signedRequest({ secret, type: 'order.completed' }))
      expect(res.status).toBe(200)
      await vi.waitFor(async () => expect((await inboxRows()).map((r) => r.status)).toEqual(['done', 'done']), { timeout: 15_000 })
      expect((await effects()).filter((e) => e.route === 'app-inbox')).toHaveLength(2)
    } finally {
      await app.stop()
    }
  })

  it('Pages Router on next start: a SIGTERM while a handler runs waits for it, and the delivery gets its 200', async () => {
    const app = await nextStart(dir, env, '/api/health')
    const req = await signedRequest({ secret, type: 'order.completed', overrides: { metadata: { slowMs: 2000 } } })
    const responded = fetch(`${app.url}/api/webhooks/pocketsflow`, req).then(async (res) => ({ status: res.status, body: await res.text() }))
    await vi.waitFor(async () => expect((await effects()).filter((e) => e.route === 'pages').map((e) => e.phase)).toEqual(['start']), { timeout: 10_000 })
    void app.stop()
    expect(await responded).toEqual({ status: 200, body: '{"received":true}' })
    await app.exited
    expect((await effects()).filter((e) => e.route === 'pages').map((e) => e.phase)).toEqual(['start', 'end'])
  })
})
