// Pocketsflow webhooks in a small Koa app.
// POCKETSFLOW_WEBHOOK_SECRET=whsec_… PORT=3000 node server.mjs
import Koa from 'koa'
import { bodyParser } from '@koa/bodyparser'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/koa'

const webhook = pocketsflowWebhook({
  secret: process.env.POCKETSFLOW_WEBHOOK_SECRET, // the signing secret from the Pocketsflow dashboard
  on: {
    // Handlers run after the 200 has been sent: Pocketsflow waits 5 s at most and never retries.
    'order.completed': async (event) => {
      console.log(`order ${event.data.order.id}: grant access to ${event.data.customer.email}`)
    },
    'order.refunded': async (event) => {
      console.log(`refund ${event.data.refund.id}: revoke access of ${event.data.customer.email}`)
    },
    // also runs for deliveries spelled customer.subscription.pause
    'customer.subscription.paused': async (event) => {
      console.log(`subscription paused for ${event.data.customer.email}`)
    },
  },
  onError: (error) => console.error(`gave up on ${error.event.type} after ${error.attempts} attempts:`, error.cause),
})

const app = new Koa()

// Middleware around the webhook sees the accepted event on ctx.state once the webhook has answered.
app.use(async (ctx, next) => {
  await next()
  const event = ctx.state.pocketsflowEvent
  if (event) console.log(`${ctx.status} ${event.type} (${event.id.slice(0, 12)}…)`)
})

// Before the body parser: the signature covers the raw bytes, which the webhook reads itself.
app.use(webhook)

// The rest of the app keeps its parsed JSON bodies; the parser never sees webhook requests.
app.use(bodyParser())
app.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/health') ctx.body = { ok: true }
  else if (ctx.method === 'POST' && ctx.path === '/api/notes') ctx.body = { saved: ctx.request.body }
  else await next()
})

const server = app.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`listening on http://localhost:${server.address().port}${webhook.receiver.path}`)
})

// On SIGTERM/SIGINT: stop taking deliveries (503), let running handlers finish, then exit.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, async () => {
    server.close()
    await webhook.close({ timeoutMs: 10_000 })
    console.log('drained, bye')
    process.exit(0)
  })
}
