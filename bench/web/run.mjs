#!/usr/bin/env node
// `pnpm --filter ./bench run bench:web`: the Web Crypto verification benchmark (web/verify.web.mjs)
// on Node.js and on Bun (the `bun` npm package's binary), one after the other in one run, and the
// core's throughput as a ratio of the hand-written crypto.subtle check's on each (target >= 0.9).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const script = join(here, 'verify.web.mjs')
const bun = join(dirname(createRequire(join(here, '..', 'package.json')).resolve('bun/package.json')), 'bin', 'bun.exe')
if (!existsSync(bun)) throw new Error(`Bun's binary is missing (${bun}): pnpm install`)

const runtimes = [
  ['Node.js', process.execPath],
  ['Bun', bun],
]
let belowTarget = false
for (const [name, binary] of runtimes) {
  const run = spawnSync(binary, [script], { cwd: here, encoding: 'utf8', env: process.env })
  if (run.status !== 0) throw new Error(`${name} failed:\n${run.stdout}\n${run.stderr}`)
  const { runtime, results } = JSON.parse(run.stdout.trim().split('\n').at(-1))
  console.log(`\n${runtime}\n`)
  console.log('| body | contender | ops/s (median) | rounds min–max | vs hand-written |')
  console.log('| :-- | :-- | --: | --: | --: |')
  for (const { size, bytes, opsPerSecond } of results) {
    const baseline = opsPerSecond[0].median
    for (const row of opsPerSecond) {
      const ratio = row.median / baseline
      if (ratio < 0.9) belowTarget = true
      const fmt = (n) => Math.round(n).toLocaleString('en-US')
      console.log(`| ${size} (${bytes} B) | ${row.name} | ${fmt(row.median)} | ${fmt(row.min)}–${fmt(row.max)} | ${ratio.toFixed(2)} |`)
    }
  }
}
console.log(belowTarget ? '\nbelow the 0.9 target on at least one row' : '\nevery row at or above the 0.9 target')
