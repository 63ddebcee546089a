// Durable inboxes against the in-memory default: accepted deliveries per second and the p99 of
// the acknowledgement, the Express adapter in one process, load (autocannon) from this one.
//
//   pnpm bench:inbox                 memory, bullmq, postgres
//   pnpm bench:inbox memory bullmq   some
//   BENCH_DURATION=10 BENCH_ROUNDS=2 BENCH_CONNECTIONS=50
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describeRun, measureServer, settings } from '../http/load.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const ALL = ['memory', 'bullmq', 'postgres']
const kinds = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL

console.log(describeRun('~1 KB signed deliveries, handlers in the web process'))
const samples = Object.fromEntries(kinds.map((k) => [k, []]))
let port = 24000 + (process.pid % 1000)
for (let round = 0; round < settings.rounds; round++) {
  // Rotate the order each round, so drift on the machine doesn't favour one.
  const order = kinds.map((_, i) => kinds[(i + round) % kinds.length])
  for (const kind of order) samples[kind].push(await measureServer(join(here, 'server.mjs'), port++, { INBOX: kind }))
}
const avg = (list, key) => list.reduce((a, s) => a + s[key], 0) / list.length
const memory = samples.memory?.length ? avg(samples.memory, 'rps') : undefined
console.log('\n| inbox | accepted/s | ack p50 | ack p99 | vs in-memory |')
console.log('|:--|--:|--:|--:|--:|')
for (const kind of kinds) {
  const rps = avg(samples[kind], 'rps')
  const ratio = memory ? `${(rps / memory).toFixed(2)}×` : 'n/a'
  console.log(`| ${kind} | ${Math.round(rps).toLocaleString('en-US')} | ${avg(samples[kind], 'p50').toFixed(1)} ms | ${avg(samples[kind], 'p99').toFixed(1)} ms | ${ratio} |`)
}
