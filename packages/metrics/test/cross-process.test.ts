// With a durable inbox whose worker runs in another process, the worker's process span links to
// the receive span of the process that recorded the event: its trace context is stored with the
// event (the carry hook) in Redis, through BullMQ.
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { Redis } from 'ioredis'
import { describe, expect, it, vi } from 'vitest'
import { createFetchHandler } from '@pocketsflow-webhooks/core'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { bullmqInbox } from '@pocketsflow-webhooks/redis'
import { openTelemetryHooks } from '../src/index.js'

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379'
const SECRET = 'whsec_metrics_cross_process'
const here = dirname(fileURLToPath(import.meta.url))

describe('openTelemetryHooks across a BullMQ worker process', () => {
  it("the worker's process span links to the web process's receive span", async () => {
    const queue = `pf_otel_${Date.now().toString(36)}_${process.pid}`
    const spans = new InMemorySpanExporter()
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
    // The web process records only (no handlers); the worker below runs them.
    const inbox = bullmqInbox({ connection: { url: REDIS_URL }, queueName: queue, prefix: queue, logger: false })
    const handle = createFetchHandler({ secret: SECRET, logger: false, inbox, hooks: openTelemetryHooks({ tracerProvider }) })
    const worker = spawn(process.execPath, [join(here, 'fixtures', 'inbox-worker.mjs')], {
      env: { ...process.env, QUEUE: queue, REDIS_URL },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    worker.stdout?.on('data', (chunk) => (output += chunk))
    worker.stderr?.on('data', (chunk) => (output += chunk))
    try {
      await vi.waitFor(() => expect(output).toContain('worker ready'), { timeout: 10_000 })
      const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { testMode: false, livemode: true } })
      const response = await handle(new Request('http://shop.example/webhooks/pocketsflow', { method: 'POST', headers: req.headers, body: req.body }))
      expect(response.status).toBe(200)
      const receive = spans.getFinishedSpans().find((span) => span.name === 'receive order.completed')
      expect(receive).toBeDefined()
      const processSpan = await vi.waitFor(
        () => {
          const line = output.split('\n').find((l) => l.startsWith('{') && l.includes('"process order.completed"'))
          expect(line, output).toBeDefined()
          return JSON.parse(line as string) as { attributes: Record<string, unknown>; links: { traceId: string; spanId: string }[] }
        },
        { timeout: 10_000 },
      )
      expect(processSpan.links).toEqual([{ traceId: receive?.spanContext().traceId, spanId: receive?.spanContext().spanId }])
      expect(processSpan.attributes['messaging.message.id']).toBe(receive?.attributes['messaging.message.id'])
    } finally {
      worker.kill('SIGTERM')
      await new Promise((resolve) => worker.once('exit', resolve))
      await handle.close({ timeoutMs: 1000 })
      await inbox.close({ timeoutMs: 1000 })
      const redis = new Redis(REDIS_URL)
      const keys = await redis.keys(`${queue}*`)
      if (keys.length > 0) await redis.del(...keys)
      redis.disconnect()
    }
  }, 30_000)
})
