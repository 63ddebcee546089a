// The smallest Worker that checks a delivery: verifyWebhook from the web entry, nothing else.
import { verifyWebhook } from '@pocketsflow-webhooks/core/web'

export default {
  async fetch(request, env) {
    const body = new Uint8Array(await request.arrayBuffer())
    const result = await verifyWebhook({ secret: env.POCKETSFLOW_WEBHOOK_SECRET, headers: request.headers, body })
    return new Response(null, { status: result.ok ? 200 : 401 })
  },
}
