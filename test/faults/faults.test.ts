// The short form of the fault suite, inside `pnpm test`: one schedule per mode, with Express and
// Fastify in front. `pnpm test:faults` is the long form (see README.md). A failing run prints its
// seed and the one command that plays it again.
import { describe, expect, it } from 'vitest'
import type { Mode } from './oracle.js'
import { runFaults, summarise, type Adapter } from './run.js'

const seedFromEnv = process.env['FAULT_SEED'] === undefined ? undefined : Number(process.env['FAULT_SEED'])

const RUNS: [Mode, Adapter, number][] = [
  ['memory', 'fastify', 1369927426],
  ['redis-dedupe', 'express', 2002],
  ['bullmq', 'fastify', 3003],
  ['postgres', 'express', 4004],
]

describe('exactly once under injected faults (short form)', () => {
  it.each(RUNS)('%s behind %s', { timeout: 90_000 }, async (mode, adapter, seed) => {
    const result = await runFaults({ seed: seedFromEnv ?? seed, mode, adapter })
    console.log(summarise(result))
    const { violations } = result.report
    expect(violations, `${summarise(result)}\nreplay: ${result.replay}\n${JSON.stringify(violations.slice(0, 10), null, 2)}`).toEqual([])
    expect(result.report.stats.acknowledged).toBeGreaterThan(0)
  })
})
