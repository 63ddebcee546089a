import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const root = dirname(fileURLToPath(import.meta.url))

// The NestJS adapter is tested on two majors: its own devDependencies (the newest) and NestJS 11 from
// the workspace package in packages/nestjs/test/nest11. The second run maps every `@nestjs/*` import
// of the adapter's source and tests to that package's copies; Nest's own packages then load each
// other from there (pnpm links them per major), so one app never mixes two majors.
const nest11 = join(root, 'packages/nestjs/test/nest11')
const fromNest11 = createRequire(join(nest11, 'package.json'))
const NEST_PACKAGES = ['common', 'core', 'config', 'platform-express', 'platform-fastify', 'testing']
const nest11Aliases = NEST_PACKAGES.map((name) => ({
  find: new RegExp(`^@nestjs/${name}$`),
  replacement: fromNest11.resolve(`@nestjs/${name}`),
}))

const shared = {
  testTimeout: 20_000,
  typecheck: { enabled: false },
}

export default defineConfig({
  test: {
    // CI also asks for a JSON report, to print a plain "N passed, N failed" closing line.
    reporters: process.env['TEST_REPORT_FILE'] ? ['default', ['json', { outputFile: process.env['TEST_REPORT_FILE'] }]] : ['default'],
    projects: [
      {
        test: {
          ...shared,
          name: 'main',
          include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/*/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/dist/**', 'test/faults/soak.test.ts'],
        },
      },
      {
        resolve: { alias: nest11Aliases },
        test: {
          ...shared,
          name: 'nestjs@11',
          include: ['packages/nestjs/test/**/*.test.ts'],
          // The CommonJS app runs in a child process that resolves Nest from the adapter's own
          // dependencies; the type checks are tsc's, against those too.
          exclude: ['**/node_modules/**', 'packages/nestjs/test/cjs.test.ts', 'packages/nestjs/test/types.test.ts'],
          env: { EXPECTED_NEST_MAJOR: '11' },
        },
      },
    ],
  },
})
