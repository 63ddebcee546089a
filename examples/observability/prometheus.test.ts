// The example, scraped by a real Prometheus server (Debian's `prometheus`, which .ci/run
// installs): a scripted mix of deliveries, then the values read back through Prometheus's query
// API. Under CI a missing prometheus fails the test; elsewhere it is skipped.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { startExample, type ExampleServer } from '../../test/example-server.js'

const SECRET = 'whsec_example_observability'
const dir = dirname(fileURLToPath(import.meta.url))
const CI = process.env['CI'] === 'true' || process.env['CI'] === '1'
const prometheusBinary = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
})()

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })
}

describe.skipIf(prometheusBinary === undefined && !CI)('examples/observability scraped by Prometheus', () => {
  let example: ExampleServer
  let prometheus: ChildProcess
  let prometheusUrl = ''
  let scratch = ''
  let prometheusOutput = ''

  beforeAll(async () => {
    if (prometheusBinary === undefined) throw new Error('prometheus is not installed (apt-get install prometheus; .ci/run does)')
    example = await startExample(join(dir, 'server.mjs'), { POCKETSFLOW_WEBHOOK_SECRET: SECRET, OTEL_CONSOLE: '0' })
    scratch = mkdtempSync(join(tmpdir(), 'pocketsflow-prometheus-'))
    const config = join(scratch, 'prometheus.yml')
    writeFileSync(
      config,
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: webhooks\n    static_configs:\n      - targets: ['${new URL(example.base).host}']\n`,
    )
    const port = await freePort()
    prometheusUrl = `http://127.0.0.1:${port}`
    prometheus = spawn(prometheusBinary, [`--config.file=${config}`, `--storage.tsdb.path=${join(scratch, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    prometheus.stdout?.on('data', (chunk) => (prometheusOutput += chunk))
    prometheus.stderr?.on('data', (chunk) => (prometheusOutput += chunk))
    // Ready, and the example is a healthy target.
    await vi.waitFor(async () => expect(await query('up{job="webhooks"}')).toBe(1), { timeout: 30_000, interval: 250 })
  }, 45_000)

  afterAll(async () => {
    prometheus?.kill('SIGTERM')
    example?.child.kill('SIGTERM')
    await new Promise((resolve) => setTimeout(resolve, 200))
    if (scratch) rmSync(scratch, { recursive: true, force: true })
  })

  /** The value of an instant query that yields one sample (undefined when it yields none). */
  async function query(promql: string): Promise<number | undefined> {
    const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`).catch(() => undefined)
    if (!response?.ok) return undefined
    const body = (await response.json()) as { data: { result: { value: [number, string] }[] } }
    const [first] = body.data.result
    return first === undefined ? undefined : Number(first.value[1])
  }

  it('counts deliveries by outcome and reason, handler attempts by outcome, dead letters and durations', async () => {
    const post = async (req: { headers: Record<string, string>; body: string }) => (await fetch(example.url, { method: 'POST', headers: req.headers, body: req.body })).status
    const live = { testMode: false, livemode: true }
    const order = (id: string) => signedRequest({ secret: SECRET, type: 'order.completed', overrides: { ...live, order: { id } } })
    const accepted = await order('ord_1')
    expect(await post(accepted)).toBe(200)
    expect(await post(accepted)).toBe(200) // duplicate
    expect(await post({ ...accepted, body: accepted.body.replace('ord_1', 'ord_2') })).toBe(401) // forged
    expect(await post(await signedRequest({ secret: SECRET, type: 'order.completed', timestamp: Date.now() - 3_600_000, overrides: live }))).toBe(401)
    expect(await post(await signedRequest({ secret: SECRET, type: 'order.completed', body: '{"event":"order.completed",' }))).toBe(400)
    expect(await post(await order('flaky_1'))).toBe(200) // fails once, then succeeds
    expect(await post(await order('down_1'))).toBe(200) // fails for good
    expect((await fetch(example.url)).status).toBe(405)

    const m = 'pocketsflow_webhook_'
    await vi.waitFor(async () => expect(await query(`${m}dead_letters_total{type="order.completed"}`)).toBe(1), { timeout: 20_000, interval: 250 })
    // Scrapes after the last attempt settled carry every count.
    await vi.waitFor(async () => expect(await query(`${m}handler_attempts_total{type="order.completed",outcome="failed"}`)).toBe(3), { timeout: 10_000, interval: 250 })
    expect(await query(`${m}handler_attempts_total{type="order.completed",outcome="ok"}`)).toBe(2)
    expect(await query(`${m}deliveries_total{outcome="accepted"}`)).toBe(3)
    expect(await query(`${m}deliveries_total{outcome="duplicate"}`)).toBe(1)
    expect(await query(`${m}deliveries_total{outcome="rejected",reason="signature_mismatch"}`)).toBe(1)
    expect(await query(`${m}deliveries_total{outcome="rejected",reason="timestamp_too_old"}`)).toBe(1)
    expect(await query(`${m}deliveries_total{outcome="rejected",reason="malformed_json"}`)).toBe(1)
    expect(await query(`${m}deliveries_total{outcome="rejected",reason="method_not_allowed"}`)).toBe(1)
    expect(await query(`sum(${m}handler_duration_seconds_count)`)).toBe(5)
    expect(await query(`${m}ack_duration_seconds_count`)).toBe(8)
    // The README's alert rules evaluate (here: a dead letter in the last 5 minutes).
    expect(await query(`increase(${m}dead_letters_total[5m]) > 0`)).toBeGreaterThan(0)
    expect(await query(`histogram_quantile(0.99, sum by (le) (rate(${m}ack_duration_seconds_bucket[5m])))`)).toBeLessThan(5)
  }, 60_000)

  it("every alert rule of the metrics package's README is valid PromQL, and the dead-letter one fires", async () => {
    const readme = readFileSync(join(dir, '..', '..', 'packages', 'metrics', 'README.md'), 'utf8')
    const rules = [...readme.matchAll(/- alert: (\w+)\n\s+expr: (.+)/g)].map(([, name, expr]) => ({ name: name as string, expr: expr as string }))
    expect(rules.map((rule) => rule.name)).toContain('WebhookDeadLetter')
    for (const rule of rules) {
      const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(rule.expr)}`)
      expect(response.status, `${rule.name}: ${await response.clone().text()}`).toBe(200)
      expect(((await response.json()) as { status: string }).status).toBe('success')
    }
    const deadLetter = rules.find((rule) => rule.name === 'WebhookDeadLetter')
    expect(await query(deadLetter?.expr as string)).toBeGreaterThan(0)
  })
})
