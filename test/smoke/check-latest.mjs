#!/usr/bin/env node
// `pnpm check:latest`: do the packages work with what a user who starts a project today installs?
// Packs the built packages, installs them with npm in a scratch app beside the newest release of
// every framework they accept as a peer (npm fails on a peer range that excludes it, as it would for
// that user), and runs the smoke there. Not part of `pnpm test`, whose result must not depend on
// what the registry published today.
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ADAPTERS = ['core', 'express', 'fastify', 'hono', 'koa', 'next', 'nestjs']
// Every peer of the adapters, plus what those frameworks need beside them to serve a request.
const NEWEST = [
  'express',
  'fastify',
  'hono',
  '@hono/node-server',
  'koa',
  'next',
  'react',
  'react-dom',
  '@nestjs/common',
  '@nestjs/core',
  '@nestjs/platform-express',
  '@nestjs/platform-fastify',
  'reflect-metadata',
  'rxjs',
]

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const scratch = mkdtempSync(join(tmpdir(), 'pocketsflow-check-latest-'))
const keep = process.argv.includes('--keep')

function run(command, args, cwd, stdio = 'inherit') {
  execFileSync(command, args, { cwd, stdio })
}

try {
  // `pnpm pack` writes the versions of workspace dependencies, as publishing does.
  for (const name of ADAPTERS) run('pnpm', ['pack', '--pack-destination', scratch], join(root, 'packages', name), ['ignore', 'ignore', 'inherit'])
  const tarballs = Object.fromEntries(
    readdirSync(scratch)
      .filter((file) => file.endsWith('.tgz'))
      .map((file) => [`@pocketsflow-webhooks/${/^pocketsflow-webhooks-(.+)-\d+\.\d+\.\d+.*\.tgz$/.exec(file)[1]}`, `file:./${file}`]),
  )
  const app = {
    name: 'check-latest',
    private: true,
    type: 'module',
    dependencies: { ...tarballs, ...Object.fromEntries(NEWEST.map((name) => [name, 'latest'])) },
    // The adapters depend on the core at the packed version, which the registry may not have yet.
    overrides: { '@pocketsflow-webhooks/core': tarballs['@pocketsflow-webhooks/core'] },
  }
  writeFileSync(join(scratch, 'package.json'), `${JSON.stringify(app, null, 2)}\n`)
  console.log(`installing the packed packages beside the newest ${NEWEST.join(', ')} in ${scratch}`)
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], scratch)
  const versions = NEWEST.map((name) => `${name}@${JSON.parse(readFileSync(join(scratch, 'node_modules', name, 'package.json'), 'utf8')).version}`)
  console.log(`installed: ${versions.join(' ')}`)
  copyFileSync(join(here, 'smoke.mjs'), join(scratch, 'smoke.mjs'))
  run(process.execPath, ['smoke.mjs'], scratch)
} catch (error) {
  console.error(`check:latest failed: ${error.message}`)
  process.exitCode = 1
} finally {
  if (keep) console.log(`scratch app kept in ${scratch}`)
  else rmSync(scratch, { recursive: true, force: true })
}
