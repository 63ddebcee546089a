// Pocketsflow webhooks in a small Fastify app.
// POCKETSFLOW_WEBHOOK_SECRET=whsec_… PORT=3000 node server.mjs
import Fastify from 'fastify'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/fastify'

const app = Fastify({ logger: { level: 'warn' } })

// The webhook's route reads the raw bytes the signature covers with a body parser of its own,
// scoped to that route: the rest of the app keeps Fastify's JSON parsing.
await app.register(pocketsflowWebhook, {
  secret: process.env.POCKETSFLOW_WEBHOOK_SECRET, // the signing secret from the Pocketsflow dashboard
  logger: app.log, // rejections and handler failures go to the app's pino logger
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
  // app.close() waits this long for running handlers, then aborts them (they reach onError).
  closeTimeoutMs: 10_000,
})

// Any hook can read the accepted event; onResponse runs once the answer is out.
app.addHook('onResponse', async (request, reply) => {
  const event = request.pocketsflowEvent
  if (event) console.log(`${reply.statusCode} ${event.type} (${event.id.slice(0, 12)}…)`)
})

// The rest of the app, with parsed JSON bodies as usual.
app.get('/health', async () => ({ ok: true }))
app.post('/api/notes', async (request) => ({ saved: request.body }))

await app.listen({ port: Number(process.env.PORT ?? 3000), host: '0.0.0.0' })
console.log(`listening on http://localhost:${app.server.address().port}${app.pocketsflowWebhook.receiver.path}`)

// On SIGTERM/SIGINT: stop listening, let running handlers finish (app.close() waits for them), exit.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, async () => {
    await app.close()
    console.log('drained, bye')
    process.exit(0)
  })
}
