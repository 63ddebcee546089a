// Shared by every HTTP benchmark: the signed deliveries the load generator sends, and the trivial
// handler work both sides do after answering. Each request carries a fresh id and timestamp, so
// the adapter's dedupe sees new events, as it would in production.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createHmac } from 'node:crypto'
import os from 'node:os'
import autocannon from 'autocannon'

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

/**
 * Options every adapter server adds to its defaults: `BENCH_DEDUPE=off` turns the in-memory dedupe
 * off, to show its share of the gap to the hand-written route (which has none).
 */
export const adapterOptions = process.env.BENCH_DEDUPE === 'off' ? { dedupe: false } : {}

/** The run's settings, from the environment: BENCH_DURATION, BENCH_WARMUP, BENCH_ROUNDS, BENCH_CONNECTIONS. */
export const settings = {
  duration: Number(process.env.BENCH_DURATION ?? 10),
  warmup: Number(process.env.BENCH_WARMUP ?? 3),
  rounds: Number(process.env.BENCH_ROUNDS ?? 2),
  connections: Number(process.env.BENCH_CONNECTIONS ?? 50),
}

/**
 * Deliveries every server of the adapter benchmarks answers before it is measured: more than the
 * in-memory dedupe store holds by default (50,000 ids), so the adapters are measured in the state
 * a long-running receiver is in, with a full store that forgets its oldest id on every claim. A
 * store still filling up is cheaper, and the warm-up seconds alone would leave it half full on a
 * slow machine.
 */
export const STEADY_STATE_REQUESTS = 60_000

/**
 * Warms a server up: `seconds` of load, then more until it has answered `minimum` deliveries
 * (STEADY_STATE_REQUESTS for the adapter benchmarks). The hand-written routes get the same, so
 * both sides reach the measurement equally warm.
 */
export async function warmUp(port, seconds, connections = settings.connections, minimum = 0) {
  const first = await load(port, seconds, connections)
  const left = minimum - first.requests.total
  if (left > 0) await load(port, undefined, connections, left)
}

/**
 * Per-round ratios summed up: their mean, its standard error (how far the mean of these rounds
 * may sit from the true ratio: one round alone on a shared VM can be off by 10 % or more), and
 * their range as text (`0.91–1.05`).
 */
export function summarise(ratios) {
  const average = mean(ratios)
  const variance = ratios.reduce((a, b) => a + (b - average) ** 2, 0) / Math.max(1, ratios.length - 1)
  const sorted = ratios.slice().sort((x, y) => x - y)
  return { mean: average, standardError: Math.sqrt(variance / ratios.length), spread: `${sorted[0].toFixed(2)}–${sorted[sorted.length - 1].toFixed(2)}` }
}

export function mean(list) {
  return list.reduce((a, b) => a + b, 0) / list.length
}

/** One line saying what ran where, printed above every table. */
export function describeRun(what, warmupRequests = 0) {
  const { duration, warmup, rounds, connections } = settings
  const atLeast = warmupRequests > 0 ? ` and at least ${warmupRequests.toLocaleString('en-US')} deliveries` : ''
  return `Node ${process.version}, ${os.cpus()[0]?.model.trim()} × ${os.cpus().length}; ${connections} connections, ${rounds} × ${duration} s each (after ${warmup} s${atLeast} of warm-up), ${what}`
}

/**
 * Starts the server script in its own process, warms it up, loads it, stops it. Any non-2xx
 * answer fails the run: a benchmark of rejected deliveries would measure nothing useful.
 * `cpuPerRequest` is the server's CPU time (user + system, all its threads) per answered request
 * in µs, or undefined where /proc is missing.
 */
export async function measureServer(file, port, env = {}, warmupRequests = 0) {
  const child = await startServer(file, port, env)
  try {
    await warmUp(port, settings.warmup, settings.connections, warmupRequests)
    const cpuBefore = cpuTime(child.pid)
    const result = await load(port, settings.duration)
    const cpuAfter = cpuTime(child.pid)
    assertAllAnswered(result, `${file} ${JSON.stringify(env)}`)
    const cpuPerRequest = cpuBefore === undefined || cpuAfter === undefined ? undefined : (cpuAfter - cpuBefore) / result.requests.total
    return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, cpuPerRequest }
  } finally {
    await stopServer(child)
  }
}

/** Fails the run on any non-2xx answer, error or timeout: a benchmark of rejected deliveries measures nothing useful. */
export function assertAllAnswered(result, what) {
  const bad = result.non2xx + result.errors + result.timeouts
  if (bad > 0) throw new Error(`${what}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`)
}

/**
 * CPU time a process has used so far, in µs, from Linux's /proc/<pid>/stat (utime + stime, in
 * clock ticks of 1/100 s: USER_HZ is 100 on every architecture Node runs on); undefined elsewhere.
 * On a machine shared with the load generator, req/s also depends on how the two processes share
 * the cores; CPU time per request counts the server's own work only.
 */
export function cpuTime(pid) {
  let stat
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10_000
}

/**
 * Starts a server script in its own process; resolves once it prints "ready". With `core`, the
 * process (every thread of it) runs on that CPU core only, through Linux's `taskset`, which
 * replaces itself with Node: the child's pid is the server's.
 */
export function startServer(file, port, env = {}, core) {
  const command = core === undefined ? [process.execPath, file] : ['taskset', '-c', String(core), process.execPath, file]
  const child = spawn(command[0], command.slice(1), { env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
      if (out.includes('ready')) resolve(child)
    })
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code} before it was ready`)))
  })
}

/** Stops a server started by startServer and waits for it to exit (it may clean up first). */
export function stopServer(child) {
  if (child.exitCode !== null) return Promise.resolve()
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  return exited
}

/**
 * Signed deliveries, each new, from `connections` keep-alive connections for `seconds`, or until
 * `amount` of them have been answered.
 */
export function load(port, seconds, connections = settings.connections, amount = undefined) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections,
        ...(amount === undefined ? { duration: seconds } : { amount }),
        requests: [
          {
            method: 'POST',
            path: PATH,
            setupRequest(req) {
              const body = nextBody()
              return { ...req, headers: signedHeaders(body), body }
            },
          },
        ],
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    )
  })
}
