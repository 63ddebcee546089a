#!/usr/bin/env node
// Bundles src/worker.mjs into dist/worker.js the way wrangler does (esbuild, the `workerd` export
// condition, so the core's Web Crypto build is the one bundled), for config.capnp to serve.
import { build } from 'esbuild'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** esbuild's options for a Worker script: one ES module with its dependencies, for workerd. */
export const WORKER_BUILD = {
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  conditions: ['workerd', 'worker', 'browser'],
  mainFields: ['module', 'main'],
  logLevel: 'error',
}

/** Bundles the Worker at `entry` (more esbuild options in `options`: outfile, minify, write, …). */
export function bundleWorker(entry, options) {
  return build({ ...WORKER_BUILD, entryPoints: [entry], ...options })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const here = dirname(fileURLToPath(import.meta.url))
  await bundleWorker(join(here, 'src', 'worker.mjs'), { outfile: join(here, 'dist', 'worker.js') })
}
