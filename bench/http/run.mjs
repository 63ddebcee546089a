// HTTP benchmark: an adapter against a hand-written route in the same framework. Each server runs
// in its own process; this process is the load generator (autocannon), on loopback.
//
//   pnpm bench:http                 every framework
//   pnpm bench:http express koa     some
//   BENCH_DURATION=10 BENCH_ROUNDS=2 BENCH_CONNECTIONS=50
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describeRun, measureServer, settings } from './load.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const ALL = ['express', 'fastify', 'koa']
const frameworks = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL.filter((f) => existsSync(join(here, `${f}-adapter.mjs`)))

const rows = []
let port = 23000 + (process.pid % 1000)
console.log(describeRun('~1 KB signed deliveries'))
for (const framework of frameworks) {
  const samples = { adapter: [], hand: [] }
  for (let round = 0; round < settings.rounds; round++) {
    // Alternate which side goes first, so drift on the machine doesn't favour one.
    const order = round % 2 === 0 ? ['hand', 'adapter'] : ['adapter', 'hand']
    for (const side of order) samples[side].push(await measureServer(join(here, `${framework}-${side}.mjs`), port++))
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
