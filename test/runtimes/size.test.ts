// Size is cold start on Workers: the project's minimal Workers, bundled as wrangler would and
// gzipped, stay within their budgets (size/measure.mjs; `node size/measure.mjs` prints the table
// with Hono and the peers beside them). Needs the built packages (`pnpm run build`).
import { describe, expect, it } from 'vitest'
// @ts-expect-error: a plain ES module of this test package, without types
import { measureWorker, WORKERS } from './size/measure.mjs'

interface Worker {
  readonly file: string
  readonly what: string
  readonly budget?: number
}

describe('Worker bundle size (esbuild, minified, gzip)', () => {
  for (const worker of (WORKERS as readonly Worker[]).filter((w) => w.budget !== undefined)) {
    it(`${worker.what}: at most ${(worker.budget as number) / 1024} KiB`, async () => {
      const { gzip } = (await measureWorker(worker.file)) as { gzip: number }
      expect(gzip).toBeGreaterThan(1024) // it bundled the library, not an empty module
      expect(gzip).toBeLessThanOrEqual(worker.budget as number)
    })
  }
})
