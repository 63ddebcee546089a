#!/usr/bin/env node
// `pnpm test:runtimes`: the smoke of the built packages (smoke.mjs) on every supported major of
// Node.js. The suite itself runs on the machine's Node.js (20, the oldest supported); Node 22 and 24
// come from the `node` package of the npm registry, at pinned versions so that a run does not depend
// on what was published today, installed once under node_modules/.cache.
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const RUNTIMES = ['22.23.3', '24.21.0']

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const smoke = join(here, 'smoke.mjs')

/** The `node` binary of `version`, installed with npm into the repository's cache if not there yet. */
function nodeBinary(version) {
  const prefix = join(root, 'node_modules', '.cache', 'node-runtimes', version)
  const binary = join(prefix, 'node_modules', 'node', 'bin', 'node')
  if (!existsSync(binary)) {
    console.log(`installing Node.js ${version} (npm package node@${version}) into ${prefix}`)
    execFileSync('npm', ['install', '--prefix', prefix, '--no-save', '--no-audit', '--no-fund', '--loglevel=error', `node@${version}`], {
      stdio: 'inherit',
    })
  }
  return binary
}

const failed = []
for (const binary of [process.execPath, ...RUNTIMES.map(nodeBinary)]) {
  const run = spawnSync(binary, [smoke], { stdio: 'inherit', cwd: here })
  if (run.status !== 0) failed.push(binary)
}
if (failed.length > 0) {
  console.error(`the smoke failed on ${failed.join(', ')}`)
  process.exit(1)
}
