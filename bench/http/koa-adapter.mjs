// The Koa adapter as users mount it, with the default in-memory dedupe.
import Koa from 'koa'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/koa'
import { handle, SECRET } from './load.mjs'

const app = new Koa()
app.use(pocketsflowWebhook({ secret: SECRET, logger: false, on: { 'order.completed': handle } }))
app.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'))
