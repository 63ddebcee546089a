// The Fastify adapter as users register it, with the default in-memory dedupe, retries and time
// limits. BENCH_LEAN=1 turns those three off, to show what they cost against the hand-written
// route (which has none of them).
import Fastify from 'fastify'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/fastify'
import { handle, SECRET } from './load.mjs'

const lean = process.env.BENCH_LEAN === '1' ? { dedupe: false, retry: false, handlerTimeoutMs: Infinity } : {}
const app = Fastify({ logger: false })
await app.register(pocketsflowWebhook, { secret: SECRET, logger: false, ...lean, on: { 'order.completed': handle } })
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
console.log('ready')
