import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it } from 'vitest'
import { playExampleContract, startExample } from '../../test/example-server.js'
import { CI, workerdBinary } from '../../test/runtime-binaries.js'
// @ts-expect-error: the example's plain ES module, without types
import { bundleWorker } from './build.mjs'

const SECRET = 'whsec_example_worker'
const dir = dirname(fileURLToPath(import.meta.url))

// `pnpm start` as the README runs it (build.mjs, then workerd with config.capnp), on a free port.
// workerd comes from the example's `workerd` npm package; under CI its absence fails the test.
describe.skipIf(workerdBinary === undefined && !CI)('examples/cloudflare-worker (workerd)', () => {
  it('verifies, acknowledges, dedupes and rejects, on workerd', async () => {
    if (workerdBinary === undefined) throw new Error('workerd is not installed (pnpm install)')
    await bundleWorker(join(dir, 'src', 'worker.mjs'), { outfile: join(dir, 'dist', 'worker.js') })
    const server = await startExample(
      join(dir, 'config.capnp'),
      { POCKETSFLOW_WEBHOOK_SECRET: SECRET },
      { command: workerdBinary, args: ['serve', '--socket-addr', 'http=127.0.0.1:0'], webhookPath: '/webhooks/pocketsflow' },
    )
    try {
      await playExampleContract(server, { secret: SECRET, orderId: 'order_worker1', drains: false })
    } finally {
      server.child.kill()
    }
  })
})
