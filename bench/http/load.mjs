// Shared by every HTTP benchmark: the signed deliveries the load generator sends, and the trivial
// handler work both sides do after answering. Each request carries a fresh id and timestamp, so
// the adapter's dedupe sees new events, as it would in production.
import { createHmac } from 'node:crypto'

export const SECRET = 'whsec_bench_http_7d2e9a41c8b3f605'
export const PATH = '/webhooks/pocketsflow'

const padding = 'x'.repeat(700)
let counter = 0

/** A ~1 KB order.completed body, different on every call. */
export function nextBody() {
  counter++
  return JSON.stringify({
    webhookId: `wh_${process.pid}_${counter}`,
    event: 'order.completed',
    customer: { email: `buyer${counter}@example.com`, firstName: 'Ada', lastName: 'Lovelace' },
    order: { id: `order_${process.pid}_${counter}` },
    product: { id: 'prod_1', variantId: null },
    currency: 'usd',
    amount: 1500,
    note: padding,
  })
}

export function signedHeaders(body) {
  return {
    'content-type': 'application/json',
    'x-pocketsflow-event': 'order.completed',
    'x-pocketsflow-timestamp': String(Date.now()),
    'x-pocketsflow-signature': createHmac('sha256', SECRET).update(body).digest('hex'),
  }
}

/** What the servers' handlers do: the same on both sides, so only the plumbing differs. */
export let handled = 0
export function handle() {
  handled++
}
