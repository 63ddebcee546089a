// Webhook verification benchmark: @pocketsflow-webhooks/core against a hand-written node:crypto
// baseline and against svix, standardwebhooks and stripe, in one process, on the same bodies.
//
//   pnpm bench                   (from the repo root: builds the packages, then runs this)
//   node --expose-gc verify.bench.mjs
//
// Knobs (environment): BENCH_ROUNDS (default 5), BENCH_TIME_MS (per contender per round, default 400),
// BENCH_WARMUP_MS (per contender per round, default 100), BENCH_BATCH_MS (target batch, default 2).
//
// How it measures. tinybench drives the runs (warm-up, time budget, a gc() before every task), but
// each tinybench sample is a batch of n calls sized to take ~BENCH_BATCH_MS, so timer overhead
// disappears and tinybench's own per-sample await cannot distort the cheap sync contenders.
// Sync contenders are called in a plain loop; async contenders (the two core APIs, which return a
// Promise) are awaited one by one in the loop, exactly as a request handler would await them.
// Every contender is first checked to accept the valid delivery and reject a tampered one.
// Rounds interleave everything (sizes and contenders, contender order rotated each round), so the
// per-round spread shows how noisy the machine was.

import assert from 'node:assert/strict'
import { createHmac, timingSafeEqual } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'

import { createWebhookVerifier, signWebhook, verifyWebhook } from '@pocketsflow-webhooks/core'
import { Webhook as StandardWebhook } from 'standardwebhooks'
import Stripe from 'stripe'
import { Webhook as SvixWebhook } from 'svix'
import { Bench } from 'tinybench'

const ROUNDS = intFromEnv('BENCH_ROUNDS', 5)
const TIME_MS = intFromEnv('BENCH_TIME_MS', 400)
const WARMUP_MS = intFromEnv('BENCH_WARMUP_MS', 100)
const BATCH_MS = intFromEnv('BENCH_BATCH_MS', 2)
const SIZES = [
  { label: '~1 KB', bytes: 1024 },
  { label: '~64 KB', bytes: 64 * 1024 },
]
const TOLERANCE_MS = 300_000

const gc = typeof globalThis.gc === 'function' ? globalThis.gc : () => {}

function intFromEnv(name, fallback) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${raw}`)
  return value
}

// ---------------------------------------------------------------------------------------------
// Bodies: deterministic order.completed-like JSON, padded with line items up to the target size.
// ---------------------------------------------------------------------------------------------

function makeBody(targetBytes) {
  const createdAt = Date.UTC(2025, 0, 15, 12, 0, 0)
  const payload = {
    webhookId: 'wh_7f3c2a9e51d04b8c',
    event: 'order.completed',
    timestamp: createdAt,
    testMode: false,
    product: { id: 'prod_01HZX4K9Q2M8', variantId: null, name: 'Pro licence', price: 49, currency: 'usd' },
    order: { id: 'order_01HZX4KB7T3N', createdAt: new Date(createdAt).toISOString() },
    currency: 'usd',
    customer: {
      id: 'cus_01HZX4KC0V5P',
      email: 'ada.lovelace@example.com',
      firstName: 'Ada',
      lastName: 'Lovelace',
      country: 'GB',
    },
    tax: { amount: 3.92, rate: 0.08, percentage: 8, ToCountry: 'US', ToZip: '97205', ToState: 'OR', vatNumber: null },
    amount: 52.92,
    amountBeforeTax: 49,
    metadata: { utm_source: 'newsletter', utm_campaign: 'spring-launch' },
    lineItems: [],
  }
  const lineItem = (i) => ({
    id: `li_${String(i).padStart(6, '0')}`,
    productId: `prod_${(0x10000 + ((i * 7919) % 0xeffff)).toString(16)}`,
    name: `Add-on pack #${i}`,
    quantity: 1 + (i % 4),
    unitAmount: 100 + ((i * 37) % 900),
    currency: 'usd',
  })
  // Grow until the next item would overshoot; then the body is as close to the target as items allow.
  let text = JSON.stringify(payload)
  for (let i = 1; ; i++) {
    payload.lineItems.push(lineItem(i))
    const next = JSON.stringify(payload)
    if (Buffer.byteLength(next) > targetBytes) {
      payload.lineItems.pop()
      break
    }
    text = next
  }
  return Buffer.from(text, 'utf8')
}

/** Same length, one digit of `amount` changed: the signature no longer matches. */
function tamper(body) {
  const copy = Buffer.from(body)
  const at = copy.indexOf('"amount":') + '"amount":'.length
  copy[at] = copy[at] === 0x39 ? 0x31 : copy[at] + 1
  assert.notDeepEqual(copy, body)
  return copy
}

// ---------------------------------------------------------------------------------------------
// Secrets and the request headers every delivery arrives with (as Node's req.headers: lower case).
// ---------------------------------------------------------------------------------------------

const POCKETSFLOW_SECRET = 'pf_whsec_3b8f1c0d9e2a47c6b5d8e1f0a2c4b6d8'
// Standard Webhooks / Svix secrets are base64 after `whsec_`.
const STANDARD_SECRET = `whsec_${Buffer.from('bench-standard-webhooks-key-0123456789').toString('base64')}`
const SVIX_SECRET = `whsec_${Buffer.from('bench-svix-key-abcdefghijklmnopqrstuvw').toString('base64')}`
const STRIPE_SECRET = 'whsec_test_bench_4c1f8a2e9b7d3065'

function baseHeaders(body) {
  return {
    host: 'shop.example.com',
    'user-agent': 'Bench-Webhook-Sender/1.0',
    'content-type': 'application/json',
    'content-length': String(body.length),
    accept: '*/*',
    'accept-encoding': 'gzip, deflate, br',
    'x-forwarded-for': '203.0.113.7',
    'x-forwarded-proto': 'https',
    connection: 'keep-alive',
  }
}

// ---------------------------------------------------------------------------------------------
// Contenders. prepare(body) signs that body the contender's own way and returns run(body), which
// verifies one delivery with the prepared headers and returns the event, throwing if it is
// rejected; payloadOf(event) gives the parsed JSON back for the correctness check.
// ---------------------------------------------------------------------------------------------

/** What a careful user writes by hand for Pocketsflow (timestamp header is epoch milliseconds). */
function handWrittenVerify(headers, body, secret) {
  const sigHex = headers['x-pocketsflow-signature']
  const timestamp = headers['x-pocketsflow-timestamp']
  if (typeof sigHex !== 'string' || typeof timestamp !== 'string') throw new Error('missing signature headers')
  const sentAt = Number(timestamp)
  if (!Number.isFinite(sentAt) || Math.abs(Date.now() - sentAt) > TOLERANCE_MS) throw new Error('stale timestamp')
  const expected = createHmac('sha256', secret).update(body).digest()
  const given = Buffer.from(sigHex, 'hex')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new Error('signature mismatch')
  return JSON.parse(body.toString())
}

/** Pocketsflow's scheme, signed independently of the library under test: hex HMAC-SHA256 of the body. */
function pocketsflowHeaders(body) {
  return {
    ...baseHeaders(body),
    'x-pocketsflow-signature': createHmac('sha256', POCKETSFLOW_SECRET).update(body).digest('hex'),
    'x-pocketsflow-timestamp': String(Date.now()),
    'x-pocketsflow-event': 'order.completed',
  }
}

/** The core answers { ok, event | reason } instead of throwing; the payload when accepted. */
function coreResult(result) {
  if (!result.ok) throw new Error(`rejected: ${result.reason}`)
  return result.event.payload
}

const stripe = new Stripe('sk_test_x') // no network: only the webhooks helpers are used
const coreVerifier = createWebhookVerifier({ secret: POCKETSFLOW_SECRET })
const svix = new SvixWebhook(SVIX_SECRET)
const standard = new StandardWebhook(STANDARD_SECRET)

const CONTENDERS = [
  {
    name: 'hand-written node:crypto',
    async: false,
    prepare(body) {
      const headers = pocketsflowHeaders(body)
      return { run: (b) => handWrittenVerify(headers, b, POCKETSFLOW_SECRET), payloadOf: (e) => e }
    },
  },
  {
    // The same check called the way an async API is called: the yardstick for the core's rows, so
    // that both sides pay the same await per call.
    name: 'hand-written node:crypto, awaited',
    async: true,
    prepare(body) {
      const headers = pocketsflowHeaders(body)
      return { run: async (b) => handWrittenVerify(headers, b, POCKETSFLOW_SECRET), payloadOf: (e) => e }
    },
  },
  {
    name: 'core verifyWebhook (one-shot)',
    async: true,
    prepare(body) {
      const headers = pocketsflowHeaders(body)
      return { run: (b) => verifyWebhook({ secret: POCKETSFLOW_SECRET, headers, body: b }), payloadOf: coreResult }
    },
  },
  {
    name: 'core createWebhookVerifier().verify',
    async: true,
    prepare(body) {
      const headers = pocketsflowHeaders(body)
      return { run: (b) => coreVerifier.verify(headers, b), payloadOf: coreResult }
    },
  },
  {
    name: 'svix Webhook.verify',
    async: false,
    prepare(body) {
      const id = 'msg_2bench0svix0000000000001'
      const sentAt = new Date(Math.floor(Date.now() / 1000) * 1000)
      const headers = {
        ...baseHeaders(body),
        'svix-id': id,
        'svix-timestamp': String(sentAt.getTime() / 1000),
        'svix-signature': svix.sign(id, sentAt, body),
      }
      // Typed `string | Buffer`; a Buffer is decoded to a string inside before hashing.
      return { run: (b) => svix.verify(b, headers), payloadOf: (e) => e }
    },
  },
  {
    name: 'standardwebhooks Webhook.verify',
    async: false,
    prepare(body) {
      const id = 'msg_2bench0standard00000001'
      const sentAt = new Date(Math.floor(Date.now() / 1000) * 1000)
      const headers = {
        ...baseHeaders(body),
        'webhook-id': id,
        'webhook-timestamp': String(sentAt.getTime() / 1000),
        'webhook-signature': standard.sign(id, sentAt, body),
      }
      return { run: (b) => standard.verify(b, headers), payloadOf: (e) => e }
    },
  },
  {
    name: 'stripe webhooks.constructEvent',
    async: false,
    prepare(body) {
      const headers = {
        ...baseHeaders(body),
        'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload: body.toString(), secret: STRIPE_SECRET }),
      }
      return {
        run: (b) => stripe.webhooks.constructEvent(b, headers['stripe-signature'], STRIPE_SECRET),
        payloadOf: (e) => e,
      }
    },
  },
]

// ---------------------------------------------------------------------------------------------
// Correctness gate: a contender that doesn't verify can't take part.
// ---------------------------------------------------------------------------------------------

async function checkContender(contender, prepared, body, tampered) {
  const expected = JSON.parse(body.toString())
  const event = await prepared.run(body)
  assert.deepEqual(prepared.payloadOf(event), expected, `${contender.name}: valid delivery not verified correctly`)
  let rejected = false
  try {
    prepared.payloadOf(await prepared.run(tampered))
  } catch {
    rejected = true
  }
  assert.ok(rejected, `${contender.name}: tampered delivery was accepted`)
}

/** Cross-check: the core's own signer agrees with the independent signature used above. */
async function checkCoreSigner(body) {
  const headers = await signWebhook({ secret: POCKETSFLOW_SECRET, body, type: 'order.completed' })
  assert.equal(headers['X-Pocketsflow-Signature'], pocketsflowHeaders(body)['x-pocketsflow-signature'])
}

// ---------------------------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------------------------

let sink // every result lands here, so no call can be optimised away

function makeBatch(contender, run, body, n) {
  if (contender.async) {
    return async () => {
      for (let i = 0; i < n; i++) sink = await run(body)
    }
  }
  return () => {
    for (let i = 0; i < n; i++) sink = run(body)
  }
}

/** Runs the contender for ~150 ms (this is also its first warm-up) and picks the batch size. */
async function calibrate(contender, run, body) {
  let calls = 0
  const start = performance.now()
  let elapsed = 0
  while (elapsed < 150) {
    for (let i = 0; i < 16; i++) sink = contender.async ? await run(body) : run(body)
    calls += 16
    elapsed = performance.now() - start
  }
  const perCallMs = elapsed / calls
  return Math.max(1, Math.round(BATCH_MS / perCallMs))
}

/** t quantile for a two-sided 95% interval (Cornish-Fisher expansion; exact enough for df >= 3). */
function t95(df) {
  const z = 1.959964
  if (df < 1) return Number.NaN
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
}

function summarise(perOpMs, roundMeansMs) {
  const n = perOpMs.length
  const mean = perOpMs.reduce((a, b) => a + b, 0) / n
  const variance = perOpMs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, n - 1)
  const sem = Math.sqrt(variance / n)
  const roundOps = roundMeansMs.map((m) => 1000 / m)
  const avgRoundOps = roundOps.reduce((a, b) => a + b, 0) / roundOps.length
  return {
    samples: n,
    meanUs: mean * 1000,
    opsPerSec: 1000 / mean,
    rmePct: ((t95(n - 1) * sem) / mean) * 100,
    // Half the range of the per-round throughputs, relative: how much the rounds disagreed.
    roundSpreadPct: ((Math.max(...roundOps) - Math.min(...roundOps)) / 2 / avgRoundOps) * 100,
  }
}

async function main() {
  const started = performance.now()
  const cpus = os.cpus()
  const versionOf = (name) =>
    JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), 'utf8')).version
  console.log(`Node ${process.version} on ${os.platform()} ${os.arch()}`)
  console.log(`CPU: ${cpus[0]?.model.trim() ?? 'unknown'} × ${cpus.length}`)
  console.log(
    `Libraries: svix ${versionOf('svix')}, standardwebhooks ${versionOf('standardwebhooks')}, stripe ${versionOf('stripe')}, tinybench ${versionOf('tinybench')}`,
  )
  const coreEntry = fileURLToPath(import.meta.resolve('@pocketsflow-webhooks/core'))
  console.log(`Core: @pocketsflow-webhooks/core ${versionOf('@pocketsflow-webhooks/core')} (dist built ${statSync(coreEntry).mtime.toISOString()})`)
  if (typeof globalThis.gc !== 'function') console.log('note: run with --expose-gc for a gc() between contenders')
  console.log(
    `${ROUNDS} rounds × (${WARMUP_MS} ms warm-up + ${TIME_MS} ms) per contender and size, interleaved; batches of ~${BATCH_MS} ms`,
  )

  // Prepare, check and calibrate every (size, contender) pair before any timing.
  const cases = []
  for (const size of SIZES) {
    const body = makeBody(size.bytes)
    const tampered = tamper(body)
    await checkCoreSigner(body)
    const entries = []
    for (const contender of CONTENDERS) {
      const prepared = contender.prepare(body)
      await checkContender(contender, prepared, body, tampered)
      const n = await calibrate(contender, prepared.run, body)
      entries.push({ contender, batch: makeBatch(contender, prepared.run, body, n), n, perOpMs: [], roundMeansMs: [] })
    }
    cases.push({ size, body, entries })
  }
  console.log('All contenders accept the valid delivery and reject the tampered one.')

  for (let round = 0; round < ROUNDS; round++) {
    for (const { entries } of cases) {
      const bench = new Bench({
        time: TIME_MS,
        iterations: 5,
        warmupTime: WARMUP_MS,
        warmupIterations: 2,
        setup: () => gc(),
        throws: true,
      })
      const order = entries.map((_, i) => entries[(i + round) % entries.length])
      for (const entry of order) bench.add(entry.contender.name, entry.batch)
      await bench.run()
      for (const entry of entries) {
        const result = bench.getTask(entry.contender.name).result
        if (!result || result.error) throw result?.error ?? new Error(`${entry.contender.name}: no result`)
        const perOp = result.latency.samples.map((ms) => ms / entry.n)
        entry.perOpMs.push(...perOp)
        entry.roundMeansMs.push(perOp.reduce((a, b) => a + b, 0) / perOp.length)
      }
    }
    process.stderr.write(`  round ${round + 1}/${ROUNDS} done\n`)
  }

  for (const { size, body, entries } of cases) {
    const rows = entries.map((e) => ({ name: e.contender, n: e.n, ...summarise(e.perOpMs, e.roundMeansMs) }))
    // Sync rows compare with the plain hand-written check, async rows with the same check awaited.
    const baseline = { sync: rows[0].opsPerSec, async: rows[1].opsPerSec }
    console.log(`\nBody ${size.label}: ${body.length.toLocaleString('en-US')} bytes of JSON`)
    printTable(rows, baseline)
  }
  console.log(
    '\nsync = plain loop; async = awaited one by one. "vs hand-written" = throughput relative to the hand-written check of the same kind (sync rows: the plain check; async rows: the same check awaited), higher is faster.',
  )
  console.log(`Total ${((performance.now() - started) / 1000).toFixed(1)} s`)
}

function printTable(rows, baseline) {
  const header = ['contender', 'kind', 'ops/s', 'µs/op', '± 95% CI', 'rounds ±', 'vs hand-written']
  const lines = rows.map((r) => [
    r.name.name,
    r.name.async ? 'async' : 'sync',
    Math.round(r.opsPerSec).toLocaleString('en-US'),
    r.meanUs >= 100 ? r.meanUs.toFixed(1) : r.meanUs.toFixed(2),
    `±${r.rmePct.toFixed(2)}%`,
    `±${r.roundSpreadPct.toFixed(1)}%`,
    `${(r.opsPerSec / (r.name.async ? baseline.async : baseline.sync)).toFixed(2)}×`,
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)))
  const fmt = (cells) =>
    `| ${cells.map((c, i) => (i <= 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`
  console.log(fmt(header))
  console.log(`|${widths.map((w, i) => (i <= 1 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`)
  for (const line of lines) console.log(fmt(line))
}

await main()
