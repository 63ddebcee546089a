// prometheusHooks through a real Express app: the scripted mix, read back from the registry.
import { createRequire } from 'node:module'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { prometheusHooks } from '../src/index.js'
import { EXPECTED, playMix, startApp, type MixApp } from './scripted-mix.js'

let app: MixApp | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

/** The value of a metric's sample with exactly these labels (0 when absent). */
async function sample(registry: Registry, name: string, labels: Record<string, string>, suffix = ''): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name)
  const values = (metric?.values ?? []) as { metricName?: string; value: number; labels: Record<string, string | number> }[]
  const found = values.find(
    (v) => (suffix === '' || v.metricName === name + suffix) && Object.entries(labels).every(([k, value]) => String(v.labels[k]) === value) && Object.keys(v.labels).filter((k) => k !== 'le').length === Object.keys(labels).length,
  )
  return found?.value ?? 0
}

describe('prometheusHooks', () => {
  it('counts the scripted mix as the contract names it', async () => {
    const registry = new Registry()
    app = await startApp([prometheusHooks({ registry })])
    await playMix(app.url)
    const m = 'pocketsflow_webhook_'
    await vi.waitFor(async () => expect(await sample(registry, `${m}dead_letters_total`, { type: 'customer.subscription.deleted' })).toBe(1))

    const deliveries = (outcome: string, reason = '') => sample(registry, `${m}deliveries_total`, { provider: 'pocketsflow', outcome, reason })
    expect(await deliveries('accepted')).toBe(EXPECTED.deliveries.accepted)
    expect(await deliveries('duplicate')).toBe(EXPECTED.deliveries.duplicate)
    expect(await deliveries('ignored', 'test_mode')).toBe(EXPECTED.deliveries.ignored)
    expect(await deliveries('rejected', 'signature_mismatch')).toBe(1)
    expect(await deliveries('rejected', 'timestamp_too_old')).toBe(1)

    for (const [type, outcomes] of Object.entries(EXPECTED.attempts)) {
      for (const [outcome, count] of Object.entries(outcomes)) {
        expect(await sample(registry, `${m}handler_attempts_total`, { type, outcome }), `${type} ${outcome}`).toBe(count)
      }
      const attempts = Object.values(outcomes).reduce((a: number, b: number) => a + b, 0)
      expect(await sample(registry, `${m}handler_duration_seconds`, { type }, '_count')).toBe(attempts)
    }
    expect(await sample(registry, `${m}ack_duration_seconds`, {}, '_count')).toBe(EXPECTED.answered)
    expect(await sample(registry, `${m}dispatch_waiting`, {})).toBe(0)

    // Never an event id in a label, and only bounded values.
    const text = await registry.metrics()
    expect(text).not.toMatch(/[0-9a-f]{64}/)
    expect(text).toContain(`${m}ack_duration_seconds_bucket{le="0.005"}`)
  })

  it('shares one registry between receivers (one set of metrics, gauges summed) and combines with the app’s own hooks', async () => {
    const registry = new Registry()
    const mine: string[] = []
    app = await startApp([prometheusHooks({ registry }), { accepted: (event) => void mine.push(event.type) }])
    const second = await startApp(prometheusHooks({ registry }))
    try {
      await playMix(app.url)
      await playMix(second.url)
      await vi.waitFor(async () => expect(await sample(registry, 'pocketsflow_webhook_dead_letters_total', { type: 'customer.subscription.deleted' })).toBe(2))
      expect(await sample(registry, 'pocketsflow_webhook_deliveries_total', { provider: 'pocketsflow', outcome: 'accepted', reason: '' })).toBe(8)
      expect(mine).toHaveLength(4)
    } finally {
      await second.close()
    }
  })
})

describe('prometheusHooks, as an operator meets it', () => {
  it('sums the gauges of every receiver on a registry, counts one inbox once, and never hangs a scrape on a stuck store', async () => {
    const registry = new Registry()
    const first = prometheusHooks({ registry })
    const second = prometheusHooks({ registry })
    const inbox = {}
    first.observe?.({ provider: 'pocketsflow', stats: () => ({ running: 0, waiting: 2, deadLetters: 0 }), inbox, inboxDepth: async () => ({ pending: 3, deadLetters: 1 }) })
    second.observe?.({ provider: 'pocketsflow', stats: () => ({ running: 0, waiting: 4, deadLetters: 0 }) })
    // A worker on the same inbox: one backlog, not two.
    second.observe?.({ provider: 'pocketsflow', inbox, inboxDepth: async () => ({ pending: 3, deadLetters: 1 }) })
    expect(await sample(registry, 'pocketsflow_webhook_dispatch_waiting', {})).toBe(6)
    expect(await sample(registry, 'pocketsflow_webhook_inbox_pending', {})).toBe(3)

    const stuck = new Registry()
    prometheusHooks({ registry: stuck }).observe?.({ provider: 'pocketsflow', inbox: {}, inboxDepth: () => new Promise(() => {}) })
    const started = Date.now()
    expect(await sample(stuck, 'pocketsflow_webhook_inbox_pending', {})).toBeNaN()
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('refuses a registry that already has a metric of that name it did not register', () => {
    const registry = new Registry()
    registry.registerMetric(new (createRequire(import.meta.url)('prom-client') as typeof import('prom-client')).Gauge({ name: 'pocketsflow_webhook_deliveries_total', help: 'theirs', registers: [] }))
    expect(() => prometheusHooks({ registry })).toThrow(/already has a metric named pocketsflow_webhook_deliveries_total/)
  })

  it('keeps long or odd Standard Webhooks types out of the labels', async () => {
    const registry = new Registry()
    const hooks = prometheusHooks({ registry })
    for (const type of ['user.created', 'x'.repeat(200_000), 'has space']) {
      hooks.attempted?.({ type, provider: 'standard-webhooks' } as never, { handler: 'h', attempt: 1, outcome: 'ok', durationMs: 1 })
    }
    expect(await sample(registry, 'pocketsflow_webhook_handler_attempts_total', { type: 'user.created', outcome: 'ok' })).toBe(1)
    expect(await sample(registry, 'pocketsflow_webhook_handler_attempts_total', { type: 'other', outcome: 'ok' })).toBe(2)
    expect((await registry.metrics()).length).toBeLessThan(10_000)
  })
})
