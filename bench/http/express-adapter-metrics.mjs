// express-adapter.mjs with both hook sets of @pocketsflow-webhooks/metrics on, as an operator runs
// it: prometheusHooks on a registry, openTelemetryHooks on the SDK's providers (a metric reader and
// a tracer provider that record every span; nothing is exported during the run).
// BENCH_METRICS=prometheus: prometheusHooks only; =metrics: both, without spans (tracerProvider: false);
// =noop: hooks that do nothing, for the core's own cost of calling them.
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import express from 'express'
import { Registry } from 'prom-client'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/express'
import { openTelemetryHooks, prometheusHooks } from '@pocketsflow-webhooks/metrics'
import { adapterOptions, handle, SECRET } from './load.mjs'

class IdleReader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}
const meterProvider = new MeterProvider({ readers: [new IdleReader()] })
const tracerProvider = new BasicTracerProvider()
const which = process.env.BENCH_METRICS ?? 'all'
const noop = () => {}
const hooks = which === 'noop' ? { accepted: noop, duplicate: noop, rejected: noop, answered: noop, attempted: noop, deadLettered: noop, observe: noop } : [
  prometheusHooks({ registry: new Registry() }),
  ...(which === 'prometheus' ? [] : [openTelemetryHooks({ meterProvider, tracerProvider: which === 'metrics' ? false : tracerProvider })]),
]

const app = express()
app.use(pocketsflowWebhook({ secret: SECRET, logger: false, ...adapterOptions, hooks, on: { 'order.completed': handle } }))
app.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'))
