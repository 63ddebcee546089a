#!/usr/bin/env node
// Cold start on Workers grows with the script: each minimal Worker here is bundled as wrangler
// would (examples/cloudflare-worker's build: esbuild, the `workerd` export condition; minified)
// and its gzip size measured. `node size/measure.mjs` (from test/runtimes, after `pnpm run build`)
// prints the table; size.test.ts holds the project's own Workers to their budgets.
import { bundleWorker } from '../../../examples/cloudflare-worker/build.mjs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const here = dirname(fileURLToPath(import.meta.url))

/**
 * Budgets in bytes of gzip, for this project's Workers only (peers are measured to compare). The
 * verify-only Worker stays at or under the peers' verify-only size. The whole receiver's budget
 * is what it weighs today plus a margin, so that growth is a decision: it is over the 12 KiB the
 * project aimed for (see the README's Size section for what it holds).
 */
export const WORKERS = [
  { file: 'verify-only.mjs', what: 'verifyWebhook (verify only)', budget: 5 * 1024 },
  { file: 'receiver.mjs', what: 'createFetchHandler (the whole receiver)', budget: 18 * 1024 },
  { file: 'hono.mjs', what: 'Hono + @pocketsflow-webhooks/hono' },
  { file: 'hono-only.mjs', what: 'Hono alone (baseline)' },
  { file: 'standardwebhooks.mjs', what: 'peer: standardwebhooks (verify only)' },
  { file: 'svix.mjs', what: 'peer: svix (verify only)' },
]

/** The minified and gzip sizes of one Worker, bundled for workerd. */
export async function measureWorker(file) {
  const result = await bundleWorker(join(here, file), { minify: true, write: false })
  const bytes = result.outputFiles[0].contents
  return { minified: bytes.byteLength, gzip: gzipSync(bytes, { level: 9 }).byteLength }
}

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log('| Worker | minified | gzip | budget |\n| --- | ---: | ---: | ---: |')
  for (const worker of WORKERS) {
    const { minified, gzip } = await measureWorker(worker.file)
    console.log(`| ${worker.what} | ${kib(minified)} | ${kib(gzip)} (${gzip} B) | ${worker.budget ? kib(worker.budget) : ''} |`)
  }
}
