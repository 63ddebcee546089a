// The Express adapter as users mount it, with the default in-memory dedupe (unless BENCH_DEDUPE=off).
import express from 'express'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/express'
import { adapterOptions, handle, SECRET } from './load.mjs'

const app = express()
app.use(pocketsflowWebhook({ secret: SECRET, logger: false, ...adapterOptions, on: { 'order.completed': handle } }))
app.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'))
