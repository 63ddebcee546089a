// Every package README starts with a snippet a newcomer copies: each must run as printed.
// Convention: the snippet listens on process.env.PORT (default 3000), reads the secret from
// POCKETSFLOW_WEBHOOK_SECRET, and answers on the default path /webhooks/pocketsflow.
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
// The CLI's README starts with shell commands (its own tests run the binary), and a Next.js route
// file needs a Next app to run (the next package's tests build and start one).
const NOT_A_SERVER_SNIPPET = new Set(['cli', 'next'])
const packages = readdirSync(join(root, 'packages')).filter(
  (name) => existsSync(join(root, 'packages', name, 'README.md')) && !NOT_A_SERVER_SNIPPET.has(name),
)
const SECRET = 'whsec_readme_snippet'

describe.each(packages)('packages/%s/README.md', (name) => {
  it('starts with a server snippet that verifies deliveries', async () => {
    const dir = join(root, 'packages', name)
    const readme = readFileSync(join(dir, 'README.md'), 'utf8')
    const first = /```(\w+)\n([\s\S]*?)```/.exec(readme)
    expect(first?.[1], 'the first code block is the snippet, in plain JavaScript').toBe('js')
    // Inside the package, so its own name resolves to its build through package exports.
    const script = join(dir, `readme-snippet-${process.pid}.tmp.mjs`)
    writeFileSync(script, first?.[2] as string)
    // Below Linux's ephemeral range, so no outgoing connection of another test holds it.
    const port = 20000 + ((process.pid + packages.indexOf(name) * 97) % 12000)
    const child = spawn(process.execPath, [script], {
      env: { ...process.env, PORT: String(port), POCKETSFLOW_WEBHOOK_SECRET: SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk) => (output += chunk))
    child.stderr.on('data', (chunk) => (output += chunk))
    try {
      const url = `http://127.0.0.1:${port}/webhooks/pocketsflow`
      const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
      let res: Response | undefined
      for (let i = 0; i < 100 && !res && child.exitCode === null; i++) {
        res = await fetch(url, req).catch(() => new Promise<undefined>((resolve) => setTimeout(resolve, 100)))
      }
      expect(res?.status, output).toBe(200)
      expect(await res?.json()).toEqual({ received: true })
      expect((await fetch(url, { ...req, body: `${req.body} ` })).status).toBe(401)
    } finally {
      child.kill()
      rmSync(script, { force: true })
    }
  })
})
