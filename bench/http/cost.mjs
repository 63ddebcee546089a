// CPU cost per request: an adapter against the hand-written route in the same framework, both
// servers running at the same time on one CPU core, loaded together by this process. Whatever
// slows that core down (other tenants of the VM, the load generator, turbo) slows both alike, so
// each round's ratio is steady even where req/s drifts by ±10 % between rounds. It measures the
// servers' own CPU time per request (from Linux's /proc), not their throughput: run.mjs does that.
//
//   pnpm --filter ./bench run bench:cost            every framework
//   node http/cost.mjs koa                          some
//   BENCH_DURATION=4 BENCH_WARMUP=2 BENCH_ROUNDS=8 BENCH_CONNECTIONS=50 (the defaults; split between the two)
//   BENCH_DEDUPE=off                                the adapters without their in-memory dedupe
//   BENCH_PAIR=metrics node http/cost.mjs express   the adapter against itself with the metrics hooks on
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import os from 'node:os'
import { adapterOptions, assertAllAnswered, cpuTime, load, mean, startServer, STEADY_STATE_REQUESTS, stopServer, summarise, warmUp } from './load.mjs'

if (!existsSync('/proc/self/stat')) {
  console.error('bench:cost reads CPU times from /proc: it runs on Linux only')
  process.exit(1)
}
let core
try {
  execFileSync('taskset', ['-c', '0', 'true'])
  core = 0
} catch {
  // Without taskset the servers share whatever cores the scheduler gives them: still paired, less steady.
  console.error('taskset not found (util-linux): the servers will not be pinned to one core')
}

const here = dirname(fileURLToPath(import.meta.url))
// Which two servers of a framework are paired: the hand-written route and the adapter, or (with
// BENCH_PAIR=metrics) the adapter and the same adapter with @pocketsflow-webhooks/metrics' hooks.
const PAIR = process.env.BENCH_PAIR === 'metrics' ? ['adapter', 'adapter-metrics'] : ['hand', 'adapter']
const ALL = ['express', 'fastify', 'koa']
const frameworks = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL
// Shorter rounds than run.mjs, and more of them: the spread between rounds is what the standard error needs.
const duration = Number(process.env.BENCH_DURATION ?? 4)
const warmup = Number(process.env.BENCH_WARMUP ?? 2)
const rounds = Math.max(2, Number(process.env.BENCH_ROUNDS ?? 8))
const connections = Math.max(1, Number(process.env.BENCH_CONNECTIONS ?? 50) >> 1)
let port = 24000 + (process.pid % 1000)

console.log(
  `Node ${process.version}, ${os.cpus()[0]?.model.trim()} × ${os.cpus().length}; ${rounds} × ${duration} s (after ${warmup} s and at least ${STEADY_STATE_REQUESTS.toLocaleString('en-US')} deliveries of warm-up), ` +
    `both servers of a pair ${core === undefined ? 'unpinned' : `on core ${core}`}, ${connections} connections each, ~1 KB signed deliveries` +
    (adapterOptions.dedupe === false ? ', adapters without dedupe' : ''),
)
const rows = []
for (const framework of frameworks) {
  const hand = []
  const adapter = []
  const ratios = []
  for (let round = 0; round < rounds; round++) {
    const ports = [port++, port++]
    const servers = await Promise.all(PAIR.map((side, i) => startServer(join(here, `${framework}-${side}.mjs`), ports[i], {}, core)))
    try {
      await Promise.all(ports.map((p) => warmUp(p, warmup, connections, STEADY_STATE_REQUESTS)))
      const before = servers.map((s) => cpuTime(s.pid))
      const results = await Promise.all(ports.map((p) => load(p, duration, connections)))
      const after = servers.map((s) => cpuTime(s.pid))
      for (const r of results) assertAllAnswered(r, framework)
      const [h, a] = results.map((r, i) => (after[i] - before[i]) / r.requests.total)
      hand.push(h)
      adapter.push(a)
      ratios.push(h / a)
    } finally {
      await Promise.all(servers.map(stopServer))
    }
  }
  rows.push({ framework, hand: mean(hand), adapter: mean(adapter), ratios })
}

const [first, second] = PAIR.map((side) => ({ hand: 'hand-written', adapter: 'adapter', 'adapter-metrics': 'adapter with metrics' })[side])
console.log(`\n| framework | ${first} CPU/req | ${second} CPU/req | ${first} / ${second}: mean ± standard error | range over rounds |`)
console.log('|:--|--:|--:|--:|--:|')
for (const r of rows) {
  const { mean: ratio, standardError, spread } = summarise(r.ratios)
  console.log(`| ${r.framework} | ${r.hand.toFixed(1)} µs | ${r.adapter.toFixed(1)} µs | ${ratio.toFixed(3)}× ± ${standardError.toFixed(3)} | ${spread} |`)
}
