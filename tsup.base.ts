// The one build configuration every package shares: ESM + CommonJS + declarations for both.
import { defineConfig, type Options } from 'tsup'

export function packageBuild(entry: Record<string, string>, overrides: Options = {}) {
  return defineConfig({
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    treeshake: true,
    // Keep `node:crypto` as written: edge bundlers and non-Node runtimes key on the prefix.
    removeNodeProtocol: false,
    // No esbuild keepNames: it wraps every closure in a __name() call at run time, and the
    // receiver creates closures per request.
    keepNames: false,
    ...overrides,
  })
}
