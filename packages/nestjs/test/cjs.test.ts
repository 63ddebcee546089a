// The CommonJS build, required by a CommonJS Nest application in its own process.
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { SECRET, sign } from './helpers.js'

const app = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'cjs-app.cjs')

describe.each(['express', 'fastify'])('from CommonJS on %s', (platform) => {
  it('require() gives a working module: 200, handler run, 401 when tampered, any charset label, shuts down on SIGTERM', async () => {
    const child = spawn(process.execPath, [app, platform], {
      env: { ...process.env, POCKETSFLOW_WEBHOOK_SECRET: SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
    try {
      for (let i = 0; i < 200 && !/listening \d+/.test(output) && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50))
      const port = /listening (\d+)/.exec(output)?.[1]
      expect(port, output).toBeDefined()
      const url = `http://127.0.0.1:${port}/webhooks/pocketsflow`
      const req = await sign({ overrides: { customer: { email: 'cjs@example.com' } } })
      const res = await fetch(url, req)
      expect(res.status, output).toBe(200)
      for (let i = 0; i < 100 && !output.includes('grant cjs@example.com'); i++) await new Promise((r) => setTimeout(r, 20))
      expect(output).toContain('grant cjs@example.com')
      expect((await fetch(url, { ...req, body: `${req.body} ` })).status).toBe(401)
      // The build also lets a delivery labelled with another charset through Express's JSON parser.
      const latin1 = await sign({ overrides: { customer: { email: 'latin1@example.com' } } })
      expect((await fetch(url, { ...latin1, headers: { ...latin1.headers, 'Content-Type': 'application/json; charset=latin1' } })).status).toBe(200)
      child.kill('SIGTERM')
      // Nest's shutdown hooks close the app, then re-raise the signal on the process.
      const { code, signal } = await exited
      expect(code === 0 || signal === 'SIGTERM', output).toBe(true)
      expect(output).not.toMatch(/error/i)
    } finally {
      child.kill()
    }
  })
})
