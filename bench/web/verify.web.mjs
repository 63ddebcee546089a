// Web Crypto verification, in the runtime this file runs in (Node.js or Bun): the core's web entry
// (`createWebhookVerifier` from @pocketsflow-webhooks/core/web) against what a careful user writes
// by hand with crypto.subtle, on the same deliveries, interleaved. Prints one JSON line of results;
// web/run.mjs runs it on each runtime and prints the table.
//
// Both sides get what a Fetch handler has: the request's `Headers` and the body as a Uint8Array.
// The hand-written check imports its key once, reads the two headers, checks the timestamp, hex-
// decodes the signature and lets crypto.subtle.verify compare (constant time), then parses the JSON.
import { createWebhookVerifier, signWebhook } from '@pocketsflow-webhooks/core/web'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const TIME_MS = Number(process.env.BENCH_TIME_MS ?? 300)
const TOLERANCE_MS = 300_000
const SECRET = 'pf_whsec_3b8f1c0d9e2a47c6b5d8e1f0a2c4b6d8'
const SIZES = [
  { label: '~1 KB', bytes: 1024 },
  { label: '~64 KB', bytes: 64 * 1024 },
]

/** An order.completed-like JSON body of about `bytes` bytes (padded with line items). */
function makeBody(bytes) {
  const payload = {
    webhookId: 'wh_7f3c2a9e51d04b8c',
    event: 'order.completed',
    testMode: false,
    customer: { id: 'cus_01HZX4KC0V5P', email: 'ada.lovelace@example.com', firstName: 'Ada', lastName: 'Lovelace' },
    amount: 52.92,
    lineItems: [],
  }
  for (let i = 1; JSON.stringify(payload).length < bytes - 120; i++) {
    payload.lineItems.push({ id: `li_${String(i).padStart(6, '0')}`, name: `Add-on pack #${i}`, quantity: 1 + (i % 4), currency: 'usd' })
  }
  return new TextEncoder().encode(JSON.stringify(payload))
}

// --- the hand-written check ------------------------------------------------------------------

const handKey = await crypto.subtle.importKey('raw', new TextEncoder().encode(SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
const decoder = new TextDecoder()

function hexToBytes(hex) {
  if (hex.length !== 64 || !/^[0-9a-f]+$/i.test(hex)) return undefined
  const bytes = new Uint8Array(32)
  for (let i = 0; i < 32; i++) bytes[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return bytes
}

async function handWritten(headers, body) {
  const signature = headers.get('x-pocketsflow-signature')
  const timestamp = headers.get('x-pocketsflow-timestamp')
  if (signature === null || timestamp === null) throw new Error('missing headers')
  const sentAt = Number(timestamp)
  if (!Number.isFinite(sentAt) || Math.abs(Date.now() - sentAt) > TOLERANCE_MS) throw new Error('stale')
  const given = hexToBytes(signature)
  if (!given || !(await crypto.subtle.verify('HMAC', handKey, given, body))) throw new Error('bad signature')
  return JSON.parse(decoder.decode(body))
}

// --- the core -----------------------------------------------------------------------------------

const verifier = createWebhookVerifier({ secret: SECRET })

async function core(headers, body) {
  const result = await verifier.verify(headers, body)
  if (!result.ok) throw new Error(`rejected: ${result.reason}`)
  return result.event.payload
}

const CONTENDERS = [
  { name: 'hand-written crypto.subtle', run: handWritten },
  { name: 'core createWebhookVerifier().verify', run: core },
]

// --- measuring ----------------------------------------------------------------------------------

/** Calls per second of `run` over about TIME_MS, each call awaited as a handler would. */
async function measure(run, headers, body) {
  let calls = 0
  const started = performance.now()
  let elapsed = 0
  while (elapsed < TIME_MS) {
    for (let i = 0; i < 50; i++) await run(headers, body)
    calls += 50
    elapsed = performance.now() - started
  }
  return (calls * 1000) / elapsed
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

const results = []
for (const size of SIZES) {
  const body = makeBody(size.bytes)
  const headers = new Headers(await signWebhook({ secret: SECRET, body, type: 'order.completed' }))
  const tampered = body.slice()
  tampered[body.indexOf(0x35)] = 0x36 // a "5" becomes a "6": same length, another body
  // Correctness first: each contender returns the payload and refuses the tampered body.
  const expected = JSON.stringify(JSON.parse(decoder.decode(body)))
  for (const contender of CONTENDERS) {
    if (JSON.stringify(await contender.run(headers, body)) !== expected) throw new Error(`${contender.name}: wrong payload`)
    if (await contender.run(headers, tampered).then(() => true, () => false)) throw new Error(`${contender.name}: accepted a tampered body`)
  }
  const samples = CONTENDERS.map(() => [])
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order each round, so drift on the machine does not land on one contender.
    for (let k = 0; k < CONTENDERS.length; k++) {
      const i = (k + round) % CONTENDERS.length
      samples[i].push(await measure(CONTENDERS[i].run, headers, body))
    }
  }
  results.push({ size: size.label, bytes: body.byteLength, opsPerSecond: CONTENDERS.map((c, i) => ({ name: c.name, median: median(samples[i]), min: Math.min(...samples[i]), max: Math.max(...samples[i]) })) })
}

const runtime = typeof Bun !== 'undefined' ? `Bun ${Bun.version}` : `Node.js ${process.versions.node}`
console.log(JSON.stringify({ runtime, results }))
