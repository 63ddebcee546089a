// HTTP benchmark: an adapter against a hand-written route in the same framework. Each server runs
// in its own process; this process is the load generator (autocannon), on loopback.
//
//   pnpm bench:http                 every framework
//   pnpm bench:http express koa     some
//   BENCH_DURATION=10 BENCH_ROUNDS=2 BENCH_CONNECTIONS=50
//   BENCH_DEDUPE=off                the adapters without their in-memory dedupe
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { adapterOptions, describeRun, mean, measureServer, settings, STEADY_STATE_REQUESTS, summarise } from './load.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const ALL = ['express', 'fastify', 'koa']
const frameworks = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL.filter((f) => existsSync(join(here, `${f}-adapter.mjs`)))

const rows = []
let port = 23000 + (process.pid % 1000)
console.log(describeRun(adapterOptions.dedupe === false ? '~1 KB signed deliveries, adapters without dedupe' : '~1 KB signed deliveries', STEADY_STATE_REQUESTS))
for (const framework of frameworks) {
  const samples = { adapter: [], hand: [] }
  for (let round = 0; round < settings.rounds; round++) {
    // Alternate which side goes first, so drift on the machine doesn't favour one.
    const order = round % 2 === 0 ? ['hand', 'adapter'] : ['adapter', 'hand']
    for (const side of order) samples[side].push(await measureServer(join(here, `${framework}-${side}.mjs`), port++, {}, STEADY_STATE_REQUESTS))
  }
  const avg = (list, key) => mean(list.map((s) => s[key]))
  const side = (list) => ({ rps: avg(list, 'rps'), p99: avg(list, 'p99'), cpu: avg(list, 'cpuPerRequest') })
  // Each round's pair ran back to back: averaging their ratios resists the machine's drift
  // between rounds better than a ratio of averages. CPU per request is inverted (hand-written
  // over adapter), so that both ratios read the same way: below 1, the adapter is slower.
  const throughput = summarise(samples.adapter.map((a, i) => a.rps / samples.hand[i].rps))
  const cpu = summarise(samples.adapter.map((a, i) => samples.hand[i].cpuPerRequest / a.cpuPerRequest))
  rows.push({ framework, hand: side(samples.hand), adapter: side(samples.adapter), throughput, cpu })
}

const micros = (value) => (Number.isFinite(value) ? `${value.toFixed(1)} µs` : 'n/a')
const times = (ratios) => (Number.isFinite(ratios.mean) ? `${ratios.mean.toFixed(2)}× ± ${ratios.standardError.toFixed(2)} (${ratios.spread})` : 'n/a')
console.log('\n| framework | hand-written req/s | hand-written p99 | adapter req/s | adapter p99 | adapter / hand-written req/s: mean ± standard error (range) of rounds | hand-written CPU/req | adapter CPU/req | hand-written / adapter CPU per request: mean ± standard error (range) |')
console.log('|:--|--:|--:|--:|--:|--:|--:|--:|--:|')
for (const r of rows) {
  console.log(`| ${r.framework} | ${Math.round(r.hand.rps).toLocaleString('en-US')} | ${r.hand.p99.toFixed(1)} ms | ${Math.round(r.adapter.rps).toLocaleString('en-US')} | ${r.adapter.p99.toFixed(1)} ms | ${times(r.throughput)} | ${micros(r.hand.cpu)} | ${micros(r.adapter.cpu)} | ${times(r.cpu)} |`)
}
