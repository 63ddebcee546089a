import { defineConfig } from 'vitest/config'

// `pnpm test:faults`: the long form only (the short form, faults.test.ts, runs in `pnpm test`).
export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ['soak.test.ts'],
    testTimeout: 0,
  },
})
