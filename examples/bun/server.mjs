// Pocketsflow webhooks on Bun's own server, with the core's Fetch handler.
// POCKETSFLOW_WEBHOOK_SECRET=whsec_… bun server.mjs
import { createFetchHandler } from '@pocketsflow-webhooks/core'

const PATH = '/webhooks/pocketsflow'

const webhook = createFetchHandler({
  secret: Bun.env.POCKETSFLOW_WEBHOOK_SECRET,
  on: {
    'order.completed': async (event) => {
      console.log(`order ${event.data.order.id}: grant access to ${event.data.customer.email}`)
    },
    'customer.subscription.paused': async (event) => {
      // also runs for deliveries spelled customer.subscription.pause
      console.log(`subscription paused for ${event.data.customer.email}`)
    },
  },
  onEvent: async (event) => console.log(`received ${event.type} (${event.id.slice(0, 12)}…)`),
  onError: (error) => console.error(`gave up on ${error.event.type} after ${error.attempts} attempts:`, error.cause),
})

const server = Bun.serve({
  port: Number(Bun.env.PORT ?? 3000),
  // Routing is the server's: every request handed to `webhook` is treated as a delivery. The
  // handlers run after the response; Bun keeps running, so they finish.
  fetch: (request) => (new URL(request.url).pathname === PATH ? webhook(request) : new Response('not found', { status: 404 })),
})
console.log(`listening on http://localhost:${server.port}${PATH}`)

// On SIGTERM: stop taking deliveries (503), let running handlers finish, then exit.
process.once('SIGTERM', async () => {
  server.stop()
  await webhook.close({ timeoutMs: 10_000 })
  console.log('drained, bye')
  process.exit(0)
})
