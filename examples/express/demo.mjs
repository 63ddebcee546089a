// pnpm demo: runs the Express example on the in-memory defaults and sends it one signed delivery
// of every Pocketsflow event type, then a duplicate, a tampered one and a stale one, and prints
// what happened to each. No network, no secret to set up: it makes its own.
import { POCKETSFLOW_EVENT_TYPES } from '@pocketsflow-webhooks/core'
import { generateSecret, signedRequest } from '@pocketsflow-webhooks/core/testing'
import { createApp } from './app.mjs'

const tty = process.stdout.isTTY && !process.env.NO_COLOR
const paint = (code) => (text) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text)
const green = paint(32)
const red = paint(31)
const dim = paint(2)
const bold = paint(1)

const secret = generateSecret()
let output = []
let handledWaiters = []
const { app, webhook } = createApp({
  secret,
  log: (line) => output.push(line),
  // What the library logs goes under the delivery it is about, instead of interleaving.
  logger: {
    debug() {},
    info() {},
    warn: (obj, msg) => output.push(`logged: ${msg}${obj.hint ? ` (${obj.hint})` : ''}`),
    error: (obj, msg) => output.push(`logged: ${msg}`),
  },
  hooks: { handled: () => handledWaiters.shift()?.() },
})
const server = await new Promise((resolve) => {
  const s = app.listen(0, '127.0.0.1', () => resolve(s))
})
const url = `http://127.0.0.1:${server.address().port}${webhook.receiver.path}`

/** Sends one delivery; waits for its handlers when it was accepted as new. */
async function send(label, request, { expectHandlers }) {
  output = []
  const handled = expectHandlers
    ? new Promise((resolve, reject) => {
        handledWaiters.push(resolve)
        setTimeout(() => reject(new Error(`handlers for ${label} did not finish`)), 5000).unref()
      })
    : undefined
  const res = await fetch(url, { method: 'POST', headers: request.headers, body: request.body })
  const body = await res.text()
  if (handled) await handled
  else await new Promise((resolve) => setTimeout(resolve, 20)) // a handler, if wrongly run, would show here
  const ok = res.status === 200
  const status = (ok ? green : red)(String(res.status))
  console.log(`${status} ${bold(label.padEnd(46))} ${dim(body)}`)
  for (const line of output) console.log(`      ${dim('→')} ${line}`)
  if (!expectHandlers && output.some((line) => !line.startsWith('logged:'))) throw new Error(`${label}: a handler ran`)
  return res.status
}

console.log(bold(`Express example listening on ${url}, secret ${secret.slice(0, 10)}…\n`))
const statuses = []
let first
for (const type of POCKETSFLOW_EVENT_TYPES) {
  const request = await signedRequest({ secret, type })
  first ??= request
  statuses.push([await send(type, request, { expectHandlers: true }), 200])
}
const vendorShaped = await signedRequest({ secret, type: 'customer.subscription.pause', shape: 'vendor' })
statuses.push([await send('customer.subscription.pause (vendor spelling)', vendorShaped, { expectHandlers: true }), 200])

console.log()
statuses.push([await send('duplicate of the first order.completed', first, { expectHandlers: false }), 200])
const tampered = { ...first, body: first.body.replace('"amount":', '"amount":9') }
statuses.push([await send('tampered order.completed (amount changed)', tampered, { expectHandlers: false }), 401])
const stale = await signedRequest({ secret, type: 'order.completed', timestamp: Date.now() - 60 * 60 * 1000 })
statuses.push([await send('stale order.completed (signed 1 h ago)', stale, { expectHandlers: false }), 401])

server.close()
await webhook.close()
const wrong = statuses.filter(([got, want]) => got !== want)
console.log(
  `\n${statuses.length} deliveries: ${statuses.filter(([s]) => s === 200).length} accepted, ${statuses.filter(([s]) => s !== 200).length} rejected` +
    (wrong.length === 0 ? ` ${green('as expected')}.` : ` ${red(`${wrong.length} unexpected`)}.`),
)
process.exitCode = wrong.length === 0 ? 0 : 1
