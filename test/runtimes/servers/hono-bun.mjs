// Hono on Bun: the @pocketsflow-webhooks/hono middleware in a Hono app that Bun serves
// (`bun servers/hono-bun.mjs`, cwd test/runtimes). Same stdout lines as handler.mjs.
import { Hono } from 'hono'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/hono'
import { BODY_LIMIT } from './handler.mjs'

const secret = Bun.env.POCKETSFLOW_WEBHOOK_SECRET
if (!secret) throw new Error('POCKETSFLOW_WEBHOOK_SECRET is not set')

const app = new Hono()
// `all`, so that other methods get the receiver's 405 rather than Hono's 404.
app.all(
  '/webhooks/pocketsflow',
  pocketsflowWebhook({
    secret,
    bodyLimit: BODY_LIMIT,
    logger: false,
    onEvent: (event) => {
      console.log(`handled ${event.id}`)
    },
  }),
)

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: 0,
  fetch: async (request) => {
    const response = await app.fetch(request)
    console.log(`responded ${response.status}`)
    return response
  },
})
console.log(`listening ${server.port}`)
