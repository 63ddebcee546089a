// A Cloudflare Worker (workerd): createFetchHandler from the web entry, its handlers kept alive by
// `ctx.waitUntil`. Bundled by the test with esbuild, as wrangler would, and served by the real
// workerd binary (npm `workerd`). Same stdout lines as handler.mjs.
import { createFetchHandler } from '@pocketsflow-webhooks/core/web'
import { BODY_LIMIT } from './handler.mjs'

/** Bindings arrive with the first request: the handler is made then, once per isolate. */
let handle

export default {
  async fetch(request, env, ctx) {
    handle ??= createFetchHandler({
      secret: env.POCKETSFLOW_WEBHOOK_SECRET,
      bodyLimit: BODY_LIMIT,
      logger: false,
      // Slower than the response: only `ctx.waitUntil` keeps the isolate at it once the 200 is sent.
      onEvent: async (event) => {
        await new Promise((resolve) => setTimeout(resolve, 100))
        console.log(`handled ${event.id}`)
      },
    })
    // `?unbound`: the mistake of passing ctx.waitUntil without its context (workerd throws
    // "Illegal invocation" when it is called): the handler must refuse, not acknowledge.
    const waitUntil = new URL(request.url).searchParams.has('unbound') ? ctx.waitUntil : ctx.waitUntil.bind(ctx)
    const response = await handle(request, { waitUntil })
    console.log(`responded ${response.status}`)
    return response
  },
}
