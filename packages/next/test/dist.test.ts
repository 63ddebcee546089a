// Checks the published build, not the sources: run `pnpm build` first (the test command does).
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { NODE_BUILTINS, reachableImports as reachableFrom } from '../../../test/build-imports.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
const builtins = NODE_BUILTINS

const reachableImports = (entry: string) => reachableFrom(dist, entry)

describe('published build', () => {
  it('exists (run `pnpm build`)', () => {
    expect(existsSync(join(dist, 'edge.js')), 'packages/next/dist is missing: run `pnpm build` first').toBe(true)
  })

  it.each(['edge.js', 'edge.cjs'])('%s reaches no Node.js built-in: only the Web Crypto core, its helpers and next/server (Edge runtime safe)', (entry) => {
    const imports = reachableImports(entry)
    expect(imports.filter((spec) => builtins.has(spec))).toEqual([])
    expect(imports).toEqual(['@pocketsflow-webhooks/core/inbox', '@pocketsflow-webhooks/core/web', 'next/server.js'])
  })

  it.each(['index.js', 'index.cjs'])('%s uses the node:crypto core, and the Node http glue for the Pages Router', (entry) => {
    expect(reachableImports(entry)).toEqual(['@pocketsflow-webhooks/core', '@pocketsflow-webhooks/core/inbox', '@pocketsflow-webhooks/core/node', 'next/server.js'])
  })

  it('the edge-light export condition selects the Edge build, before import/require', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, unknown>> }
    const conditions = Object.keys(pkg.exports['.'] as object)
    expect(conditions[0]).toBe('edge-light')
    expect(pkg.exports['.']?.['edge-light']).toEqual({
      import: { types: './dist/edge.d.ts', default: './dist/edge.js' },
      require: { types: './dist/edge.d.cts', default: './dist/edge.cjs' },
    })
  })

  it('loads in plain Node.js as ES module and CommonJS, and finds Next 16 after() in both', async () => {
    // `next/server` (no extension) does not resolve from an ES module in Node: the build must import next/server.js.
    const script = `
      const esm = await import(${JSON.stringify(join(dist, 'index.js'))})
      const edge = await import(${JSON.stringify(join(dist, 'edge.js'))})
      const cjs = (await import('node:module')).createRequire(import.meta.url)(${JSON.stringify(join(dist, 'index.cjs'))})
      const options = { secret: 'whsec_x', logger: false }
      console.log(JSON.stringify([esm.pocketsflowWebhook(options).schedule, edge.pocketsflowWebhook(options).schedule, cjs.pocketsflowWebhook(options).schedule, typeof esm.pocketsflowPagesWebhook, 'pocketsflowPagesWebhook' in edge]))
    `
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: root })
    expect(JSON.parse(stdout)).toEqual(['after', 'after', 'after', 'function', false])
  })

  it('the CommonJS build answers a delivery', async () => {
    const require = createRequire(import.meta.url)
    const cjs = require(join(dist, 'index.cjs')) as typeof import('../src/index.js')
    const POST = cjs.pocketsflowWebhook({ secret: 'whsec_cjs', logger: false })
    const req = await signedRequest({ secret: 'whsec_cjs', type: 'order.completed' })
    expect((await POST(new Request('https://x.example/webhooks/pocketsflow', req))).status).toBe(200)
  })
})
