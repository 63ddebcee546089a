// Pocketsflow webhooks on Deno's own server, with the core's Fetch handler.
// POCKETSFLOW_WEBHOOK_SECRET=whsec_… deno run --allow-env --allow-net server.mjs
import { createFetchHandler } from '@pocketsflow-webhooks/core'

const PATH = '/webhooks/pocketsflow'

const webhook = createFetchHandler({
  secret: Deno.env.get('POCKETSFLOW_WEBHOOK_SECRET'),
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

const server = Deno.serve(
  {
    port: Number(Deno.env.get('PORT') ?? 3000),
    onListen: ({ port }) => console.log(`listening on http://localhost:${port}${PATH}`),
  },
  // Routing is the server's: every request handed to `webhook` is treated as a delivery. The
  // handlers run after the response; Deno keeps running, so they finish.
  (request) => (new URL(request.url).pathname === PATH ? webhook(request) : new Response('not found', { status: 404 })),
)

// On SIGTERM: stop taking deliveries (503), let running handlers finish, then exit.
Deno.addSignalListener('SIGTERM', async () => {
  await webhook.close({ timeoutMs: 10_000 })
  await server.shutdown()
  console.log('drained, bye')
  Deno.exit(0)
})
