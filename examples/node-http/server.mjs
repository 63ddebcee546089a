// Pocketsflow webhooks on a bare node:http server, with the core alone.
// POCKETSFLOW_WEBHOOK_SECRET=whsec_… node server.mjs
import { createServer } from 'node:http'
import { createWebhookReceiver } from '@pocketsflow-webhooks/core'
import { receiveNodeRequest, sendNodeResponse } from '@pocketsflow-webhooks/core/node'

const receiver = createWebhookReceiver({
  secret: process.env.POCKETSFLOW_WEBHOOK_SECRET,
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

const server = createServer(async (req, res) => {
  if (!receiver.matchesPath(req.url)) return void res.writeHead(404).end()
  // Rejects from the headers alone before reading the body, reads at most `bodyLimit` bytes,
  // answers, and runs the handlers once the answer is out (or the client has gone).
  sendNodeResponse(req, res, await receiveNodeRequest(receiver, { req }))
})

const port = Number(process.env.PORT ?? 3000)
server.listen(port, () => console.log(`listening on http://localhost:${server.address().port}${receiver.path}`))

// On SIGTERM: stop taking deliveries (503), let running handlers finish, then exit.
process.once('SIGTERM', async () => {
  server.close()
  await receiver.close({ timeoutMs: 10_000 })
  console.log('drained, bye')
  process.exit(0)
})
