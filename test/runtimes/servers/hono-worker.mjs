// Hono on a Cloudflare Worker (workerd): the @pocketsflow-webhooks/hono middleware, its handlers
// kept alive through `c.executionCtx.waitUntil`. Bundled by the test with esbuild and served by the
// real workerd binary. Same stdout lines as handler.mjs.
import { Hono } from 'hono'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/hono'
import { BODY_LIMIT } from './handler.mjs'

/** Bindings arrive with the first request: the middleware is made then, once per isolate. */
let webhook

const app = new Hono()
app.use(async (c, next) => {
  await next()
  console.log(`responded ${c.res.status}`)
})
// `all`, so that other methods get the receiver's 405 rather than Hono's 404.
app.all('/webhooks/pocketsflow', (c, next) => {
  webhook ??= pocketsflowWebhook({
    secret: c.env.POCKETSFLOW_WEBHOOK_SECRET,
    bodyLimit: BODY_LIMIT,
    logger: false,
    // Slower than the response: only `waitUntil` keeps the isolate at it once the 200 is sent.
    onEvent: async (event) => {
      await new Promise((resolve) => setTimeout(resolve, 100))
      console.log(`handled ${event.id}`)
    },
  })
  return webhook(c, next)
})

export default app
