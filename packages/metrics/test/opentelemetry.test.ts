// openTelemetryHooks through a real Express app, with the SDK's in-memory readers: metric values
// after the scripted mix, and the spans (a receive span per answered request, a process span per
// handler attempt linked to its event's receive span).
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { openTelemetryHooks } from '../src/index.js'
import { EXPECTED, playMix, startApp, type MixApp } from './scripted-mix.js'

let app: MixApp | undefined
afterEach(async () => {
  await app?.close()
  app = undefined
})

function sdk() {
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 })
  const meterProvider = new MeterProvider({ readers: [reader] })
  const spans = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
  const collect = async (): Promise<ResourceMetrics> => {
    await reader.forceFlush()
    const all = metricExporter.getMetrics()
    return all[all.length - 1] as ResourceMetrics
  }
  return { meterProvider, tracerProvider, spans, collect }
}

type Point = { attributes: Record<string, unknown>; value: unknown }

function points(metrics: ResourceMetrics, name: string): Point[] {
  for (const scope of metrics.scopeMetrics) for (const metric of scope.metrics) if (metric.descriptor.name === name) return metric.dataPoints as Point[]
  return []
}

const sum = (ps: Point[], match: Record<string, unknown>) =>
  ps.filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v)).reduce((total, p) => total + (typeof p.value === 'number' ? p.value : (p.value as { count: number }).count), 0)

describe('openTelemetryHooks', () => {
  it('records the scripted mix after the semantic conventions, in seconds, with no event id in any attribute', async () => {
    const { meterProvider, tracerProvider, collect } = sdk()
    app = await startApp(openTelemetryHooks({ meterProvider, tracerProvider }))
    await playMix(app.url)
    await vi.waitFor(async () => expect(sum(points(await collect(), 'pocketsflow.webhook.dead_letters'), {})).toBe(1))
    const metrics = await collect()

    const deliveries = points(metrics, 'pocketsflow.webhook.deliveries')
    expect(sum(deliveries, { 'pocketsflow.webhook.outcome': 'accepted' })).toBe(EXPECTED.deliveries.accepted)
    expect(sum(deliveries, { 'pocketsflow.webhook.outcome': 'duplicate' })).toBe(EXPECTED.deliveries.duplicate)
    expect(sum(deliveries, { 'pocketsflow.webhook.outcome': 'ignored', 'pocketsflow.webhook.reason': 'test_mode' })).toBe(1)
    expect(sum(deliveries, { 'pocketsflow.webhook.outcome': 'rejected', 'pocketsflow.webhook.reason': 'signature_mismatch' })).toBe(1)
    expect(sum(deliveries, { 'pocketsflow.webhook.outcome': 'rejected', 'pocketsflow.webhook.reason': 'timestamp_too_old' })).toBe(1)

    expect(sum(points(metrics, 'messaging.client.consumed.messages'), { 'messaging.system': 'pocketsflow' })).toBe(EXPECTED.deliveries.accepted)
    const process = points(metrics, 'messaging.process.duration')
    expect(sum(process, { 'messaging.destination.name': 'order.refunded', 'error.type': 'handler_error' })).toBe(1)
    expect(sum(process, { 'messaging.destination.name': 'order.refunded' })).toBe(2)
    expect(sum(process, { 'messaging.destination.name': 'customer.subscription.deleted' })).toBe(2)
    const requests = points(metrics, 'http.server.request.duration')
    expect(sum(requests, {})).toBe(EXPECTED.answered)
    expect(sum(requests, { 'http.response.status_code': 401 })).toBe(2)
    expect(sum(points(metrics, 'pocketsflow.webhook.dispatch.waiting'), {})).toBe(0)

    const everything = JSON.stringify(metrics.scopeMetrics.map((s) => s.metrics.map((m) => m.dataPoints.map((p) => p.attributes))))
    expect(everything).not.toMatch(/[0-9a-f]{64}/)
  })

  it('a receive span per answered request, and a process span per handler attempt linked to it', async () => {
    const { meterProvider, tracerProvider, spans } = sdk()
    app = await startApp(openTelemetryHooks({ meterProvider, tracerProvider }))
    await playMix(app.url)
    await vi.waitFor(() => expect(spans.getFinishedSpans().filter((s) => s.name.startsWith('process ')).length).toBe(5))
    const finished = spans.getFinishedSpans()
    const receives = finished.filter((s) => s.name.startsWith('receive'))
    expect(receives).toHaveLength(EXPECTED.answered)
    expect(receives.every((s) => s.kind === SpanKind.CONSUMER)).toBe(true)
    const rejected = receives.filter((s) => s.status.code === SpanStatusCode.ERROR)
    expect(rejected.map((s) => s.attributes['pocketsflow.webhook.reason']).sort()).toEqual(['signature_mismatch', 'timestamp_too_old'])

    const refund = receives.find((s) => s.name === 'receive order.refunded')
    const refundAttempts = finished.filter((s) => s.name === 'process order.refunded')
    expect(refundAttempts.map((s) => [s.attributes['pocketsflow.webhook.attempt'], s.status.code])).toEqual([
      [1, SpanStatusCode.ERROR],
      [2, SpanStatusCode.UNSET],
    ])
    for (const attempt of refundAttempts) {
      expect(attempt.links.map((l) => l.context.spanId)).toEqual([refund?.spanContext().spanId])
      expect(attempt.attributes['messaging.message.id']).toBe(refund?.attributes['messaging.message.id'])
    }
  })
})
