// Pocketsflow webhooks on a bare node:http server, with the core alone.
// POCKETSFLOW_WEBHOOK_SECRET=whsec_… node server.mjs
import { createServer } from 'node:http'
import { createWebhookReceiver } from '@pocketsflow-webhooks/core'

const receiver = createWebhookReceiver({
  secret: process.env.POCKETSFLOW_WEBHOOK_SECRET,
  on: {
    'order.completed': async (event, { signal }) => {
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

/** Reads the raw bytes, stopping as soon as the body is over the limit. */
async function readBody(req, limit) {
  const chunks = []
  let size = 0
  for await (const chunk of req) {
    size += chunk.length
    if (size > limit) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

function send(res, result) {
  // The handlers run once the response is out, or once the client has gone: either way, exactly once.
  if (result.after) res.once('close', () => void result.after())
  res.writeHead(result.response.status, result.response.headers).end(result.response.body)
}

const server = createServer(async (req, res) => {
  if (!receiver.matchesPath(req.url)) return void res.writeHead(404).end()
  // Reject what the headers alone condemn before reading a byte of the body.
  const early = receiver.precheck({ method: req.method, headers: req.headers })
  if (early) {
    res.setHeader('connection', 'close')
    return send(res, early)
  }
  let body
  try {
    body = await readBody(req, receiver.bodyLimit)
  } catch {
    return send(res, receiver.reject('body_unreadable'))
  }
  if (!body) {
    res.setHeader('connection', 'close')
    return send(res, receiver.reject('body_too_large'))
  }
  send(res, await receiver.handle({ method: req.method, headers: req.headers, body }))
})

const port = Number(process.env.PORT ?? 3000)
server.listen(port, () => console.log(`listening on http://localhost:${port}${receiver.path}`))

// On SIGTERM: stop taking deliveries (503), let running handlers finish, then exit.
process.once('SIGTERM', async () => {
  server.close()
  await receiver.close({ timeoutMs: 10_000 })
  console.log('drained, bye')
  process.exit(0)
})
