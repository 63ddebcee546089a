// The README's first snippet is what a newcomer copies: it has to run as printed.
import { spawn } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { signedRequest } from '../src/testing/index.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
// Inside the package, so `@pocketsflow-webhooks/core` resolves to the build through its own exports.
const script = join(root, `readme-snippet-${process.pid}.tmp.mjs`)

afterAll(() => rmSync(script, { force: true }))

describe('README', () => {
  it('starts with a snippet that runs: a server that verifies and handles a delivery', async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    const snippet = /```js\n([\s\S]*?)```/.exec(readme)?.[1]
    expect(snippet).toBeDefined()
    writeFileSync(script, snippet as string)
    const port = 20000 + (process.pid % 20000)
    const child = spawn(process.execPath, [script], {
      env: { ...process.env, PORT: String(port), POCKETSFLOW_WEBHOOK_SECRET: 'whsec_readme' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    try {
      const url = `http://127.0.0.1:${port}/webhooks/pocketsflow`
      const req = await signedRequest({ secret: 'whsec_readme', type: 'order.completed', overrides: { customer: { email: 'readme@example.com' } } })
      let res: Response | undefined
      for (let i = 0; i < 50 && !res; i++) {
        res = await fetch(url, { method: 'POST', headers: req.headers, body: req.body }).catch(async () => {
          await new Promise((resolve) => setTimeout(resolve, 100))
          return undefined
        })
      }
      expect(res?.status).toBe(200)
      expect(await res?.json()).toEqual({ received: true })
      const tampered = await fetch(url, { method: 'POST', headers: req.headers, body: `${req.body} ` })
      expect(tampered.status).toBe(401)
      for (let i = 0; i < 50 && !output.includes('paid: readme@example.com'); i++) await new Promise((r) => setTimeout(r, 50))
      expect(output).toContain('paid: readme@example.com')
    } finally {
      child.kill()
    }
  })
})
