// HTTP benchmark: an adapter against a hand-written route in the same framework. Each server runs
// in its own process; this process is the load generator (autocannon), on loopback.
//
//   pnpm bench:http                 every framework
//   pnpm bench:http express koa     some
//   BENCH_DURATION=10 BENCH_ROUNDS=2 BENCH_CONNECTIONS=50
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { nextBody, PATH, signedHeaders } from './load.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const DURATION = Number(process.env.BENCH_DURATION ?? 10)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
const ALL = ['express', 'fastify', 'koa']
const frameworks = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL.filter((f) => existsSync(join(here, `${f}-adapter.mjs`)))

function startServer(file, port) {
  const child = spawn(process.execPath, [join(here, file)], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
      if (out.includes('ready')) resolve(child)
    })
    child.once('exit', (code) => reject(new Error(`${file} exited with ${code} before it was ready`)))
  })
}

function load(port, seconds) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `http://127.0.0.1:${port}`,
        connections: CONNECTIONS,
        duration: seconds,
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

async function measure(file, port) {
  const child = await startServer(file, port)
  try {
    await load(port, WARMUP)
    const result = await load(port, DURATION)
    const bad = result.non2xx + result.errors + result.timeouts
    if (bad > 0) throw new Error(`${file}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`)
    return { rps: result.requests.average, p99: result.latency.p99 }
  } finally {
    child.kill()
    await new Promise((resolve) => child.once('exit', resolve))
  }
}

const rows = []
let port = 23000 + (process.pid % 1000)
console.log(`Node ${process.version}, ${os.cpus()[0]?.model.trim()} × ${os.cpus().length}; ${CONNECTIONS} connections, ${ROUNDS} × ${DURATION} s each (after ${WARMUP} s warm-up), ~1 KB signed deliveries`)
for (const framework of frameworks) {
  const samples = { adapter: [], hand: [] }
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which side goes first, so drift on the machine doesn't favour one.
    const order = round % 2 === 0 ? ['hand', 'adapter'] : ['adapter', 'hand']
    for (const side of order) samples[side].push(await measure(`${framework}-${side}.mjs`, port++))
  }
  const avg = (list, key) => list.reduce((a, s) => a + s[key], 0) / list.length
  const hand = { rps: avg(samples.hand, 'rps'), p99: avg(samples.hand, 'p99') }
  const adapter = { rps: avg(samples.adapter, 'rps'), p99: avg(samples.adapter, 'p99') }
  rows.push({ framework, hand, adapter, ratio: adapter.rps / hand.rps })
}

console.log('\n| framework | hand-written req/s | hand-written p99 | adapter req/s | adapter p99 | adapter / hand-written |')
console.log('|:--|--:|--:|--:|--:|--:|')
for (const r of rows) {
  console.log(`| ${r.framework} | ${Math.round(r.hand.rps).toLocaleString('en-US')} | ${r.hand.p99} ms | ${Math.round(r.adapter.rps).toLocaleString('en-US')} | ${r.adapter.p99} ms | ${r.ratio.toFixed(2)}× |`)
}
