import { execFile } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { POCKETSFLOW_EVENT_TYPES } from '@pocketsflow-webhooks/core'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { startExample } from '../../test/example-server.js'

const dir = dirname(fileURLToPath(import.meta.url))

describe('examples/express', () => {
  it('pnpm demo: every event type accepted and handled, duplicate/tampered/stale as expected, exit 0', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(dir, 'demo.mjs')], { env: { ...process.env, NO_COLOR: '1' } })
    for (const type of POCKETSFLOW_EVENT_TYPES) expect(stdout).toMatch(new RegExp(`^200 ${type.replaceAll('.', '\\.')}\\s`, 'm'))
    expect(stdout).toMatch(/^200 duplicate of the first order\.completed\s+\{"received":true,"duplicate":true\}/m)
    expect(stdout).toMatch(/^401 tampered/m)
    expect(stdout).toMatch(/^401 stale/m)
    expect(stdout).toContain('→ grant access to')
    expect(stdout).toContain('→ logged: webhook delivery rejected: timestamp_too_old')
    expect(stdout).toContain('27 deliveries: 25 accepted, 2 rejected as expected.')
  })

  it('server.mjs reads POCKETSFLOW_WEBHOOK_SECRET and PORT, and drains on SIGTERM', async () => {
    const secret = 'whsec_example_express'
    const server = await startExample(join(dir, 'server.mjs'), { POCKETSFLOW_WEBHOOK_SECRET: secret })
    try {
      const req = await signedRequest({ secret, type: 'order.completed', overrides: { customer: { email: 'copy@example.com' } } })
      expect((await fetch(server.url, req)).status).toBe(200)
      expect(await server.waitFor('grant access to copy@example.com')).toContain('grant access to copy@example.com')
      expect((await fetch(`${server.base}/health`)).status).toBe(200)
      server.child.kill('SIGTERM')
      expect(await server.exited).toBe(0)
      expect(server.output()).toContain('drained, bye')
    } finally {
      server.child.kill()
    }
  })
})
