// The Fastify adapter as users register it, with the default in-memory dedupe (unless
// BENCH_DEDUPE=off), retries and time limits.
import Fastify from 'fastify'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/fastify'
import { adapterOptions, handle, SECRET } from './load.mjs'

const app = Fastify({ logger: false })
await app.register(pocketsflowWebhook, { secret: SECRET, logger: false, ...adapterOptions, on: { 'order.completed': handle } })
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
console.log('ready')
