import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'vitest'
import { playExampleContract, startExample } from '../../test/example-server.js'
import { bunBinary, CI } from '../../test/runtime-binaries.js'

const SECRET = 'whsec_example_bun'
const dir = dirname(fileURLToPath(import.meta.url))

// Bun comes from test/runtimes' `bun` npm package; under CI its absence fails the test.
describe.skipIf(bunBinary === undefined && !CI)('examples/bun (Bun.serve)', () => {
  it('verifies, acknowledges, dedupes, rejects and drains on SIGTERM', async () => {
    if (bunBinary === undefined) throw new Error('Bun is not installed (pnpm install)')
    const server = await startExample(join(dir, 'server.mjs'), { POCKETSFLOW_WEBHOOK_SECRET: SECRET }, { command: bunBinary })
    try {
      await playExampleContract(server, { secret: SECRET, orderId: 'order_bun1' })
    } finally {
      server.child.kill()
    }
  })
})
