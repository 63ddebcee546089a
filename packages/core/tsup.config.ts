import { defineConfig } from 'tsup'

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    web: 'src/web.ts',
    node: 'src/node.ts',
    testing: 'src/testing/index.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  treeshake: true,
  // Keep `node:crypto` as written: edge bundlers and non-Node runtimes key on the prefix.
  removeNodeProtocol: false,
})
