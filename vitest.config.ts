import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/*/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**', 'test/faults/soak.test.ts'],
    testTimeout: 20_000,
    typecheck: { enabled: false },
    // CI also asks for a JSON report, to print a plain "N passed, N failed" closing line.
    reporters: process.env['TEST_REPORT_FILE'] ? ['default', ['json', { outputFile: process.env['TEST_REPORT_FILE'] }]] : ['default'],
  },
})
