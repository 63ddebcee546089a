// Pocketsflow webhooks in Express, observed: Prometheus metrics on /metrics (prom-client) and
// OpenTelemetry spans and metrics to the console (set OTEL_CONSOLE=0 to silence them).
// POCKETSFLOW_WEBHOOK_SECRET=whsec_… node server.mjs
import { metrics, trace } from '@opentelemetry/api'
import { ConsoleMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import express from 'express'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/express'
import { openTelemetryHooks, prometheusHooks } from '@pocketsflow-webhooks/metrics'

// OpenTelemetry: the SDK is the app's; the hooks only use @opentelemetry/api.
if (process.env.OTEL_CONSOLE !== '0') {
  metrics.setGlobalMeterProvider(
    new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: new ConsoleMetricExporter(), exportIntervalMillis: 60_000 })] }),
  )
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())] }))
}

const registry = new Registry()
collectDefaultMetrics({ register: registry })

// A stand-in for a fulfilment service, so that the metrics have failures to show: it is down for
// orders whose id starts with "down_", and fails the first call for those starting with "flaky_".
const calls = new Map()
function fulfilmentService(orderId) {
  calls.set(orderId, (calls.get(orderId) ?? 0) + 1)
  if (orderId.startsWith('down_') || (orderId.startsWith('flaky_') && calls.get(orderId) === 1)) {
    throw new Error(`fulfilment service unavailable for ${orderId}`)
  }
}

const webhook = pocketsflowWebhook({
  secret: process.env.POCKETSFLOW_WEBHOOK_SECRET,
  retry: { maxAttempts: 2, minDelayMs: 200 },
  on: {
    'order.completed': (event) => {
      fulfilmentService(event.data.order.id)
      console.log(`order ${event.data.order.id}: granted to ${event.data.customer.email}`)
    },
  },
  onError: (error) => console.error(`gave up on ${error.event.type} after ${error.attempts} attempts: ${error.message}`),
  hooks: [prometheusHooks({ registry }), openTelemetryHooks()],
})

const app = express()
app.use(webhook)
app.get('/metrics', async (_req, res) => {
  res.type(registry.contentType).send(await registry.metrics())
})

const server = app.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`listening on http://localhost:${server.address().port}/webhooks/pocketsflow (metrics on /metrics)`)
})

process.once('SIGTERM', async () => {
  server.close()
  await webhook.close({ timeoutMs: 10_000 })
  console.log('drained, bye')
  process.exit(0)
})
