// Checks the published build, not the sources: run `pnpm build` first (the test command does).
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { NODE_BUILTINS, reachableImports as reachableFrom } from '../../../test/build-imports.js'

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist')
const builtins = NODE_BUILTINS

const reachableImports = (entry: string) => reachableFrom(dist, entry)

describe('published build', () => {
  it('exists (run `pnpm build`)', () => {
    expect(existsSync(join(dist, 'index.js')), 'packages/core/dist is missing: run `pnpm build` first').toBe(true)
  })

  it.each(['web.js', 'web.cjs', 'testing.js', 'testing.cjs', 'inbox.js', 'inbox.cjs'])('%s imports nothing at all: no Node.js built-in, no Node-only package (Edge runtime safe)', (entry) => {
    expect(reachableImports(entry)).toEqual([])
  })

  it('the Node http glue is a separate entry, the only one that loads raw-body', () => {
    expect(reachableImports('node.js')).toContain('raw-body')
    expect(reachableImports('index.js')).not.toContain('raw-body')
    expect(builtins.has('node:crypto')).toBe(true)
  })

  it('the Node entry uses node:crypto', () => {
    expect(reachableImports('index.js')).toContain('node:crypto')
  })

  it('works from CommonJS and ESM alike', async () => {
    const require = createRequire(import.meta.url)
    const cjs = require(join(dist, 'index.cjs')) as typeof import('../src/index.js')
    const esm = (await import(join(dist, 'index.js'))) as typeof import('../src/index.js')
    const body = '{"event":"order.completed"}'
    const headers = await esm.signWebhook({ secret: 'whsec_x', body })
    expect(await cjs.verifyWebhook({ secret: 'whsec_x', headers, body })).toMatchObject({ ok: true })
  })
})
