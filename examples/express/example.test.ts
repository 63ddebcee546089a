import { execFile, spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { POCKETSFLOW_EVENT_TYPES } from '@pocketsflow-webhooks/core'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'

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
    const port = 22000 + (process.pid % 20000)
    const child = spawn(process.execPath, [join(dir, 'server.mjs')], {
      env: { ...process.env, POCKETSFLOW_WEBHOOK_SECRET: secret, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    try {
      for (let i = 0; i < 100 && !output.includes('listening'); i++) await new Promise((r) => setTimeout(r, 50))
      const req = await signedRequest({ secret, type: 'order.completed', overrides: { customer: { email: 'copy@example.com' } } })
      const res = await fetch(`http://127.0.0.1:${port}/webhooks/pocketsflow`, req)
      expect(res.status).toBe(200)
      for (let i = 0; i < 100 && !output.includes('grant access to copy@example.com'); i++) await new Promise((r) => setTimeout(r, 20))
      expect(output).toContain('grant access to copy@example.com')
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200)
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
      expect(output).toContain('drained, bye')
    } finally {
      child.kill()
    }
  })
})
