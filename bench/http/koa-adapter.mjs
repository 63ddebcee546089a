// The Koa adapter as users mount it, with the default in-memory dedupe (unless BENCH_DEDUPE=off).
import Koa from 'koa'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/koa'
import { adapterOptions, handle, SECRET } from './load.mjs'

const app = new Koa()
app.use(pocketsflowWebhook({ secret: SECRET, logger: false, ...adapterOptions, on: { 'order.completed': handle } }))
app.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'))
