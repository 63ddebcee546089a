// The long form of the fault suite (`pnpm test:faults`): schedules from random seeds, in every
// mode, both adapters, until FAULT_RUNS runs or FAULT_MINUTES minutes, then a table of what was
// injected and found. FAULT_SEED, FAULT_MODE, FAULT_ADAPTER (and FAULT_BROKEN) play one run again.
import { describe, expect, it } from 'vitest'
import type { Mode } from './oracle.js'
import { runFaults, summarise, type Adapter, type RunResult } from './run.js'

const env = process.env
const MODES: Mode[] = env['FAULT_MODE'] ? [env['FAULT_MODE'] as Mode] : ['memory', 'redis-dedupe', 'bullmq', 'postgres']
const ADAPTERS: Adapter[] = env['FAULT_ADAPTER'] ? [env['FAULT_ADAPTER'] as Adapter] : ['express', 'fastify']
const replaying = env['FAULT_SEED'] !== undefined
const runs = replaying ? 1 : Number(env['FAULT_RUNS'] ?? 24)
const minutes = Number(env['FAULT_MINUTES'] ?? 60)
const events = Number(env['FAULT_EVENTS'] ?? 20)

describe('exactly once under injected faults (long form)', () => {
  it('holds on every schedule', { timeout: (minutes + 5) * 60_000 }, async () => {
    const results: RunResult[] = []
    const failed: RunResult[] = []
    const until = Date.now() + minutes * 60_000
    for (let i = 0; i < runs && Date.now() < until; i++) {
      const seed = replaying ? Number(env['FAULT_SEED']) : Math.floor(Math.random() * 2 ** 31)
      const mode = MODES[i % MODES.length] as Mode
      const adapter = ADAPTERS[Math.floor(i / MODES.length) % ADAPTERS.length] as Adapter
      const result = await runFaults({ seed, mode, adapter, events, ...(env['FAULT_BROKEN'] ? { broken: env['FAULT_BROKEN'] } : {}) })
      results.push(result)
      console.log(summarise(result))
      if (result.report.violations.length > 0) {
        failed.push(result)
        console.log(`  replay: ${result.replay}\n${JSON.stringify(result.report.violations.slice(0, 5), null, 2)}`)
      }
    }
    console.log(table(results))
    expect(failed.map((r) => r.replay)).toEqual([])
  })
})

/** The README's table: per mode, what ran, what was injected, what was found. */
function table(results: readonly RunResult[]): string {
  const rows = new Map<string, { runs: number; deliveries: number; events: number; handlerRuns: number; deadLetters: number; faults: Record<string, number>; lost: number; allowed: Record<string, number>; violations: number }>()
  for (const r of results) {
    const key = `${r.options.mode} (${r.options.adapter})`
    const row = rows.get(key) ?? { runs: 0, deliveries: 0, events: 0, handlerRuns: 0, deadLetters: 0, faults: {}, lost: 0, allowed: {}, violations: 0 }
    row.runs++
    row.deliveries += r.deliveries
    row.events += r.report.stats.acknowledged
    row.handlerRuns += r.report.stats.handlerRuns
    row.deadLetters += r.report.stats.deadLetters
    row.lost += r.report.stats.lostWithProcess
    for (const [why, n] of Object.entries(r.report.stats.allowed)) row.allowed[why] = (row.allowed[why] ?? 0) + n
    row.violations += r.report.violations.length
    for (const [kind, n] of Object.entries(r.faults)) row.faults[kind] = (row.faults[kind] ?? 0) + n
    rows.set(key, row)
  }
  const kinds = ['lose-reply', 'drop-request', 'delay', 'outage', 'SIGKILL', 'SIGTERM']
  const moments = ['after a 200', 'mid-handler', 'after a success', 'in a back-off', 'any time']
  const byMoment = (faults: Record<string, number>) =>
    moments.map((m) => (faults[`SIGKILL ${m}`] ?? 0) + (faults[`SIGTERM ${m}`] ?? 0)).join(' / ')
  const lines = [
    `| mode (adapter) | runs | deliveries | acknowledged events | handler runs | dead letters | ${kinds.join(' | ')} | process faults: ${moments.join(' / ')} | lost with a killed process | re-runs: killed / store away / per process | violations |`,
    `|:--|${'--:|'.repeat(9 + kinds.length)}`,
  ]
  for (const [key, row] of [...rows].sort()) {
    lines.push(`| ${key} | ${row.runs} | ${row.deliveries} | ${row.events} | ${row.handlerRuns} | ${row.deadLetters} | ${kinds.map((k) => row.faults[k] ?? 0).join(' | ')} | ${byMoment(row.faults)} | ${row.lost} | ${row.allowed['killed'] ?? 0} / ${row.allowed['store-away'] ?? 0} / ${row.allowed['per-process'] ?? 0} | ${row.violations} |`)
  }
  return lines.join('\n')
}
