// Pocketsflow webhooks in a Hono app, served on Node.js by @hono/node-server.
// POCKETSFLOW_WEBHOOK_SECRET=whsec_… node server.mjs
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/hono'

const webhook = pocketsflowWebhook({
  secret: process.env.POCKETSFLOW_WEBHOOK_SECRET,
  on: {
    'order.completed': async (event) => {
      console.log(`order ${event.data.order.id}: grant access to ${event.data.customer.email}`)
    },
    'customer.subscription.paused': async (event) => {
      // also runs for deliveries spelled customer.subscription.pause
      console.log(`subscription paused for ${event.data.customer.email}`)
    },
  },
  onError: (error) => console.error(`gave up on ${error.event.type} after ${error.attempts} attempts:`, error.cause),
})

const app = new Hono()
// A middleware before the webhook sees the verified event once the handler has answered.
app.use('/webhooks/*', async (c, next) => {
  await next()
  const event = c.var.pocketsflowEvent
  if (event) console.log(`received ${event.type} (${event.id.slice(0, 12)}…)`)
})
// `all`, so that other methods get the receiver's 405 rather than Hono's 404.
app.all('/webhooks/pocketsflow', webhook)

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000) }, (info) => {
  console.log(`listening on http://localhost:${info.port}/webhooks/pocketsflow`)
})

// On SIGTERM: stop taking deliveries (503), let running handlers finish, then exit.
process.once('SIGTERM', async () => {
  server.close()
  await webhook.close({ timeoutMs: 10_000 })
  console.log('drained, bye')
  process.exit(0)
})
