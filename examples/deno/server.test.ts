import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'vitest'
import { playExampleContract, startExample } from '../../test/example-server.js'
import { CI, denoBinary } from '../../test/runtime-binaries.js'

const SECRET = 'whsec_example_deno'
const dir = dirname(fileURLToPath(import.meta.url))

// Deno comes from test/runtimes' `deno` npm package; under CI its absence fails the test. The
// command is the README's: Deno finds the packages through package.json and node_modules.
describe.skipIf(denoBinary === undefined && !CI)('examples/deno (Deno.serve)', () => {
  it('verifies, acknowledges, dedupes, rejects and drains on SIGTERM', async () => {
    if (denoBinary === undefined) throw new Error('Deno is not installed (pnpm install)')
    const server = await startExample(
      join(dir, 'server.mjs'),
      { POCKETSFLOW_WEBHOOK_SECRET: SECRET, NO_COLOR: '1' },
      { command: denoBinary, args: ['run', '--allow-env', '--allow-net'] },
    )
    try {
      await playExampleContract(server, { secret: SECRET, orderId: 'order_deno1' })
    } finally {
      server.child.kill()
    }
  })
})
