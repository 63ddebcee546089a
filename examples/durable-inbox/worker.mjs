// The worker process: runs the handlers on what the web process recorded, with retries, backoff,
// a time limit per attempt, and dead letters (`pocketsflow-webhooks inbox list --postgres URL`).
// Run as many as you like: each event is claimed by one of them.
import { startInboxWorker } from '@pocketsflow-webhooks/core'
import { openInbox } from './inbox.mjs'

const worker = startInboxWorker({
  inbox: openInbox(),
  on: {
    'order.completed': async (event, ctx) => {
      // ctx.signal aborts on the attempt's time limit or at shutdown: pass it to fetch, db calls…
      console.log(`worker: order ${event.data.order.id}: grant access to ${event.data.customer.email} (attempt ${ctx.attempt})`)
    },
    'customer.subscription.deleted': async (event) => {
      console.log(`worker: subscription ended for ${event.data.customer.email}`)
    },
  },
  onError: (error) => console.error(`worker: gave up on ${error.event.id}: ${error.message}`),
})
console.log('worker: running')

process.on('SIGTERM', async () => {
  // Running handlers get 10 s; after that they are aborted and their events go back to the table
  // for the next worker, without counting as a failed attempt.
  await worker.close({ timeoutMs: 10_000 })
  console.log('worker: stopped')
  process.exit(0)
})
