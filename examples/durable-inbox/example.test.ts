import { randomUUID } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { startExample } from '../../test/example-server.js'
import { spawn } from 'node:child_process'

const SECRET = 'whsec_example_durable_inbox'
const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
const TABLE = `pf_example_${randomUUID().slice(0, 8)}`
const dir = dirname(fileURLToPath(import.meta.url))
const env = { POCKETSFLOW_WEBHOOK_SECRET: SECRET, DATABASE_URL, INBOX_TABLE: TABLE }

afterAll(async () => {
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  await client.query(`DROP TABLE IF EXISTS "${TABLE}"`)
  await client.end()
})

function startWorker() {
  const child = spawn(process.execPath, [join(dir, 'worker.mjs')], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const waitFor = async (text: string) => {
    for (let i = 0; i < 200 && !output.includes(text); i++) await new Promise((r) => setTimeout(r, 50))
    return output
  }
  return { child, exited, waitFor, output: () => output }
}

describe('examples/durable-inbox', () => {
  it('the web process records and answers; the worker, started later, processes each event once', async () => {
    const web = await startExample(join(dir, 'web.mjs'), env)
    const workers: ReturnType<typeof startWorker>[] = []
    try {
      const order = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { order: { id: 'order_durable1' } } })
      const post = () => fetch(web.url, { method: 'POST', headers: order.headers, body: order.body })
      expect(await (await post()).json()).toEqual({ received: true })
      expect(await (await post()).json()).toEqual({ received: true, duplicate: true })
      expect((await fetch(web.url, { method: 'POST', headers: order.headers, body: `${order.body} ` })).status).toBe(401)

      // No worker yet: the event waits in the table. Two workers then race for it.
      workers.push(startWorker(), startWorker())
      const [first, second] = workers as [ReturnType<typeof startWorker>, ReturnType<typeof startWorker>]
      await Promise.race([first.waitFor('order order_durable1'), second.waitFor('order order_durable1')])
      await new Promise((r) => setTimeout(r, 500))
      const runs = (first.output() + second.output()).match(/order order_durable1: grant access to \S+ \(attempt 1\)/g) ?? []
      expect(runs).toHaveLength(1)

      for (const worker of workers) worker.child.kill('SIGTERM')
      expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0])
      expect(first.output()).toContain('worker: stopped')
      web.child.kill('SIGTERM')
      expect(await web.exited).toBe(0)
      expect(web.output()).toContain('web: stopped')
    } finally {
      web.child.kill()
      for (const worker of workers) worker.child.kill()
    }
  })
})
