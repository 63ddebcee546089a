// Peer: the same verify-only Worker with the `standardwebhooks` package.
import { Webhook } from 'standardwebhooks'

export default {
  async fetch(request, env) {
    const body = await request.text()
    try {
      new Webhook(env.WEBHOOK_SECRET).verify(body, Object.fromEntries(request.headers))
      return new Response(null, { status: 200 })
    } catch {
      return new Response(null, { status: 401 })
    }
  },
}
