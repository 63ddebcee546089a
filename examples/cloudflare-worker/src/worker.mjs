// Pocketsflow webhooks on Cloudflare Workers, with the core's Fetch handler (Web Crypto build).
import { createFetchHandler } from '@pocketsflow-webhooks/core'

const PATH = '/webhooks/pocketsflow'

/** Made on the first request, once per isolate: the secret is a binding, and bindings come with requests. */
let webhook

function createWebhook(env) {
  return createFetchHandler({
    secret: env.POCKETSFLOW_WEBHOOK_SECRET,
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
}

export default {
  async fetch(request, env, ctx) {
    if (new URL(request.url).pathname !== PATH) return new Response('not found', { status: 404 })
    webhook ??= createWebhook(env)
    // The handlers run after the response; ctx.waitUntil keeps the isolate alive until they settle.
    return webhook(request, { waitUntil: ctx.waitUntil.bind(ctx) })
  },
}
