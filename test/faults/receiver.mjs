// One receiver process of the fault suite: an adapter (ADAPTER=express|fastify) in a mode
// (MODE=memory|redis-dedupe|bullmq|postgres), with handlers whose behaviour each delivery carries
// in its body (`plan`, one entry per handler). Everything a handler does is appended to JOURNAL
// (one JSON line per step, written before the step is over), so the suite sees what ran even in a
// process it killed. BROKEN names a deliberately broken double (see oracle.test.ts).
import { appendFileSync } from 'node:fs'

const env = process.env
const journalFile = env.JOURNAL
const timeoutMs = Number(env.TIMEOUT_MS ?? 400)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const journal = (entry) => appendFileSync(journalFile, `${JSON.stringify({ ...entry, pid: process.pid, t: Date.now() })}\n`)
const quiet = { debug() {}, info() {}, warn() {}, error: (obj, msg) => process.env.FAULTS_DEBUG && console.error(msg, obj) }

/** Handler number `slot` (`t0`, `t1`… for the typed ones, `c0`… for the catch-alls). */
function handler(slot, index) {
  return (event, ctx) => {
    const plan = event.data?.plan?.[index] ?? { kind: 'ok' }
    const at = { e: event.id, h: slot, type: event.type, a: ctx.attempt }
    journal({ k: 'start', ...at })
    const fail = (value) => {
      journal({ k: 'fail', ...at })
      throw value
    }
    const failsNow = plan.kind === 'always' || ((plan.kind === 'failN' || plan.kind === 'nonError') && ctx.attempt <= plan.n)
    const value = plan.kind === 'nonError' ? { planned: 'not an Error', attempt: ctx.attempt } : new Error(`planned failure of ${slot}`)
    if (plan.sync) {
      if (failsNow) fail(value)
      journal({ k: 'success', ...at })
      return undefined
    }
    return (async () => {
      if (plan.kind === 'hang') await sleep(plan.ms) // past the time limit, ignoring ctx.signal
      else if (plan.ms) await sleep(plan.ms)
      if (failsNow) fail(value)
      journal({ k: 'success', ...at })
    })()
  }
}

const handlers = JSON.parse(env.HANDLERS) // { types: { [type]: typedCount }, catchAll: n }
const on = {}
for (const [type, count] of Object.entries(handlers.types)) on[type] = Array.from({ length: count }, (_, i) => handler(`t${i}`, i))
const onEvent = Array.from({ length: handlers.catchAll }, (_, i) => handler(`c${i}`, 10 + i))

// Broken doubles: each puts back one defect class the suite must catch.
let dedupe
if (env.BROKEN === 'duplicate-store') {
  // A store that answers "duplicate" for some events nobody processed (the lost-reply defect).
  const { MemoryDedupeStore } = await import('@pocketsflow-webhooks/core')
  const store = new MemoryDedupeStore()
  let claims = 0
  dedupe = {
    claim: (key, type) => {
      const won = store.claim(key, type)
      return won === true && ++claims % 3 === 0 ? false : won
    },
    complete: (key) => store.complete(key),
    release: (key) => store.release(key),
  }
}
if (env.BROKEN === 'rerun-dispatch') {
  // All handlers of a type retried as one: a retry re-runs those that had succeeded.
  for (const type of Object.keys(on)) {
    const list = on[type]
    on[type] = async (event, ctx) => {
      for (const h of list) await h(event, ctx)
    }
  }
}
if (env.BROKEN === 'no-wait-dispatch') {
  // Stops waiting for an attempt when its time limit passes: the retry overlaps the attempt still running.
  const wrap = (h) => (event, ctx) => Promise.race([h(event, ctx), sleep(timeoutMs / 2).then(() => Promise.reject(new Error('gave up waiting')))])
  for (const type of Object.keys(on)) on[type] = on[type].map(wrap)
}

const inbox = await (async () => {
  if (env.MODE === 'bullmq') {
    const { bullmqInbox } = await import('@pocketsflow-webhooks/redis')
    return bullmqInbox({ connection: { url: env.STORE_URL }, queueName: env.NAME, prefix: env.NAME, logger: quiet, lockDurationMs: Number(env.LEASE_MS), stalledIntervalMs: 250 })
  }
  if (env.MODE === 'postgres') {
    const { postgresInbox } = await import('@pocketsflow-webhooks/postgres')
    return postgresInbox({ connectionString: env.STORE_URL, table: env.NAME, pollIntervalMs: 100, leaseMs: Number(env.LEASE_MS) })
  }
  return undefined
})()
if (env.MODE === 'redis-dedupe') {
  const { redisDedupeStore } = await import('@pocketsflow-webhooks/redis')
  dedupe = redisDedupeStore({ url: env.STORE_URL, prefix: `${env.NAME}:`, pendingTtlMs: Number(env.PENDING_TTL_MS ?? 60_000) })
}

const options = {
  secret: env.SECRET,
  logger: quiet,
  handlerTimeoutMs: timeoutMs,
  storeTimeoutMs: Number(env.STORE_TIMEOUT_MS ?? 500),
  retry: { maxAttempts: Number(env.MAX_ATTEMPTS ?? 3), minDelayMs: 20, maxDelayMs: 80 },
  concurrency: 4,
  on,
  onEvent,
  onError: (error) => journal({ k: 'onError', e: error.event.id, h: error.handler }),
  // What the receiver answered, from its side (the suite compares it with what arrived).
  hooks: {
    accepted: (event) => journal({ k: 'accepted', e: event.id, type: event.type }),
    duplicate: (event) => journal({ k: 'duplicate', e: event.id, type: event.type }),
  },
  ...(inbox ? { inbox } : {}),
  ...(dedupe ? { dedupe } : {}),
}

let close
if (env.ADAPTER === 'fastify') {
  const { default: Fastify } = await import('fastify')
  const { pocketsflowWebhook } = await import('@pocketsflow-webhooks/fastify')
  const app = Fastify()
  await app.register(pocketsflowWebhook, { ...options, closeTimeoutMs: Number(env.CLOSE_TIMEOUT_MS ?? 2000) })
  app.get('/__faults/dead-letters', async () => app.pocketsflowWebhook.receiver.deadLetters({ limit: 100_000 }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  close = () => app.close()
  console.log(`listening ${app.server.address().port}`)
} else {
  const { default: express } = await import('express')
  const { pocketsflowWebhook } = await import('@pocketsflow-webhooks/express')
  const webhook = pocketsflowWebhook(options)
  const app = express()
  app.use(webhook)
  app.get('/__faults/dead-letters', async (_req, res) => res.json(await webhook.receiver.deadLetters({ limit: 100_000 })))
  const server = app.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`))
  close = async () => {
    server.close()
    await webhook.close({ timeoutMs: Number(env.CLOSE_TIMEOUT_MS ?? 2000) })
  }
}
journal({ k: 'up' })

process.once('SIGTERM', async () => {
  await close()
  journal({ k: 'closed' })
  process.exit(0)
})
