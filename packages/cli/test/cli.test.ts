// The built binary, run as a user runs it, against a real receiver (the Express adapter).
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signWebhook } from '@pocketsflow-webhooks/core'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/express'

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bin.js')
const SECRET = 'whsec_cli_test_secret'
const dir = mkdtempSync(join(tmpdir(), 'pf-cli-'))

function run(args: string[], options: { env?: Record<string, string>; input?: string } = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { env: { ...process.env, NO_COLOR: '1', POCKETSFLOW_WEBHOOK_SECRET: '', ...options.env } }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
    if (options.input !== undefined) child.stdin?.end(options.input)
  })
}

const handled: string[] = []
let server: ReturnType<ReturnType<typeof express>['listen']>
let url = ''
beforeAll(async () => {
  const app = express()
  app.use(pocketsflowWebhook({ secret: SECRET, logger: false, onEvent: (event) => void handled.push(event.type) }))
  await new Promise<void>((resolve) => (server = app.listen(0, '127.0.0.1', () => resolve())))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/pocketsflow`
})
afterAll(() => server?.close())

describe('pocketsflow-webhooks', () => {
  it('prints help and exits 0 with --help, 2 without a command', async () => {
    const help = await run(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('send <event-type>')
    expect((await run([])).code).toBe(2)
    expect((await run(['frobnicate'])).code).toBe(2)
    for (const command of ['send', 'verify', 'listen']) {
      const r = await run([command, '--help'])
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^Usage: pocketsflow-webhooks/)
      expect(r.stdout).toContain('Exit codes')
    }
  })

  describe('send', () => {
    it('signs and delivers a sample event; the adapter accepts it (exit 0)', async () => {
      const r = await run(['send', 'order.completed', '--url', url, '--secret', SECRET])
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^200 order\.completed \d+(\.\d+)? ms \{"received":true\}/)
      expect(handled).toContain('order.completed')
    })

    it('takes the secret from POCKETSFLOW_WEBHOOK_SECRET, and sends a duplicate', async () => {
      const r = await run(['send', 'invoice.payment_failed', '--url', url, '--duplicate'], { env: { POCKETSFLOW_WEBHOOK_SECRET: SECRET } })
      expect(r.code).toBe(0)
      expect(r.stdout).toContain('(duplicate)')
      expect(r.stdout).toContain('"duplicate":true')
    })

    it.each([['--stale'], ['--tamper']])('%s is rejected by the receiver: exit 1', async (flag) => {
      const r = await run(['send', 'order.completed', '--url', url, '--secret', SECRET, flag])
      expect(r.code).toBe(1)
      expect(r.stdout).toMatch(/^401 /)
    })

    it('sends a body from a file, byte for byte, and the vendor shape', async () => {
      const file = join(dir, 'body.json')
      writeFileSync(file, '{"event":"order.completed","customer":{"email":"file@example.com"}}')
      expect((await run(['send', 'order.completed', '--url', url, '--secret', SECRET, '--body', file])).code).toBe(0)
      expect((await run(['send', 'customer.subscription.updated', '--url', url, '--secret', SECRET, '--shape', 'vendor'])).code).toBe(0)
    })

    it('explains usage mistakes with exit 2 and an unreachable receiver with exit 3', async () => {
      const noSecret = await run(['send', 'order.completed', '--url', url])
      expect(noSecret.code).toBe(2)
      expect(noSecret.stderr).toContain('POCKETSFLOW_WEBHOOK_SECRET')
      expect((await run(['send', '--secret', SECRET])).code).toBe(2)
      expect((await run(['send', 'order.completed', '--secret', SECRET, '--nope'])).code).toBe(2)
      expect((await run(['send', 'order.completed', '--secret', SECRET, '--url', 'http://127.0.0.1:1/x'])).code).toBe(3)
    })
  })

  describe('verify', () => {
    async function capture(body = '{"event":"order.completed","amount":1500}', secret = SECRET) {
      const headers = await signWebhook({ secret, body, type: 'order.completed' })
      const headerFile = join(dir, `headers-${Math.random()}.txt`)
      writeFileSync(headerFile, `POST /webhooks/pocketsflow HTTP/1.1\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\n')}\n`)
      const bodyFile = join(dir, `body-${Math.random()}.json`)
      writeFileSync(bodyFile, body)
      return { headers, headerFile, bodyFile, body }
    }

    it('exit 0 and what matched, for a good delivery; never prints the secret', async () => {
      const c = await capture()
      const r = await run(['verify', '--headers', c.headerFile, '--body', c.bodyFile, '--secret', SECRET])
      expect(r.code).toBe(0)
      expect(r.stdout).toContain('✓ verified')
      expect(r.stdout).toContain('signed content: body')
      expect(r.stdout + r.stderr).not.toContain(SECRET)
    })

    it('reads the body from stdin and headers from --header flags', async () => {
      const c = await capture()
      const flags = Object.entries(c.headers).flatMap(([k, v]) => ['--header', `${k}: ${v}`])
      const r = await run(['verify', ...flags, '--body', '-', '--secret', SECRET], { input: c.body })
      expect(r.code).toBe(0)
    })

    it('reads a whole raw request', async () => {
      const c = await capture()
      const file = join(dir, 'request.http')
      writeFileSync(file, `POST /webhooks/pocketsflow HTTP/1.1\r\n${Object.entries(c.headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${c.body}`)
      expect((await run(['verify', '--request', file, '--secret', SECRET])).code).toBe(0)
    })

    it('--schema: checks the verified payload against the schema for its type, with each issue and its path', async () => {
      // A Standard Schema by hand, in a plain module, as a user's compiled schema file would export it.
      const schemaFile = join(dir, 'schemas.mjs')
      writeFileSync(
        schemaFile,
        `const needsAmount = { '~standard': { version: 1, vendor: 'test', validate: async (value) =>
           typeof value.amount === 'number' ? { value } : { issues: [{ message: 'Expected number', path: [{ key: 'amount' }] }, { message: 'Required', path: ['customer', 'email'] }] } } }
         export const schemas = { 'order.completed': needsAmount }`,
      )
      const good = await capture('{"event":"order.completed","amount":1500}')
      const ok = await run(['verify', '--headers', good.headerFile, '--body', good.bodyFile, '--secret', SECRET, '--schema', schemaFile])
      expect(ok.code).toBe(0)
      expect(ok.stdout).toContain('✓ the payload matches the schema for order.completed')

      const bad = await capture('{"event":"order.completed","amount":"lots","testMode":true}')
      const failed = await run(['verify', '--headers', bad.headerFile, '--body', bad.bodyFile, '--secret', SECRET, '--schema', schemaFile])
      expect(failed.code).toBe(1)
      expect(failed.stdout).toContain('✓ verified')
      expect(failed.stdout).toContain('a test-mode event')
      expect(failed.stdout).toContain('✗ the payload does not match the schema for order.completed')
      expect(failed.stdout).toContain('✗ amount: Expected number')
      expect(failed.stdout).toContain('✗ customer.email: Required')

      const otherTypes = join(dir, 'refund-schemas.mjs')
      writeFileSync(otherTypes, `export default { 'order.refunded': { '~standard': { version: 1, vendor: 'test', validate: () => ({ issues: [{ message: 'never' }] }) } } }`)
      const unchecked = await run(['verify', '--headers', bad.headerFile, '--body', bad.bodyFile, '--secret', SECRET, '--schema', otherTypes])
      expect(unchecked.code).toBe(0)
      expect(unchecked.stdout).toContain('no schema for order.completed')

      // Keyed by the other spelling of an aliased type, as the receiver accepts it.
      const aliased = join(dir, 'alias-schemas.mjs')
      writeFileSync(aliased, `export default { 'customer.subscription.pause': { '~standard': { version: 1, vendor: 'test', validate: () => ({ issues: [{ message: 'never', path: ['x'] }] }) } } }`)
      const paused = await capture('{"event":"customer.subscription.paused"}')
      writeFileSync(paused.headerFile, (await import('node:fs')).readFileSync(paused.headerFile, 'utf8').replace(/x-pocketsflow-event: .*/i, 'X-Pocketsflow-Event: customer.subscription.paused'))
      const aliasRun = await run(['verify', '--headers', paused.headerFile, '--body', paused.bodyFile, '--secret', SECRET, '--schema', aliased])
      expect(aliasRun.stdout).toContain('✗ x: never')
      expect(aliasRun.code).toBe(1)

      const notSchema = join(dir, 'not-a-schema.mjs')
      writeFileSync(notSchema, 'export default { parse() {} }')
      const usage = await run(['verify', '--headers', good.headerFile, '--body', good.bodyFile, '--secret', SECRET, '--schema', notSchema])
      expect(usage.code).toBe(2)
      expect(usage.stderr).toMatch(/exports no Standard Schema/)
    })

    const signed = '{"event":"order.completed","amount":1500,"customer":{"email":"a@example.com"}}'
    it.each([
      ['a secret with a trailing newline', { used: `${SECRET}\n` }, /whitespace/],
      ['a secret missing its whsec_ prefix', { used: SECRET.slice(6) }, /with a "whsec_" prefix/],
      ['the wrong secret', { used: 'whsec_another_endpoint' }, /wrong secret \(sha256:[0-9a-f]{8}\)/],
      ['a body pretty-printed before verification', { received: JSON.stringify(JSON.parse(signed), null, 2) }, /matches compact JSON/],
      ['a body whose keys were re-ordered', { signedAs: JSON.stringify({ amount: 1500, customer: { email: 'a@example.com' }, event: 'order.completed' }) }, /keys sorted/],
      ['a body signed with Python-style spacing', { signedAs: '{"event": "order.completed", "amount": 1500, "customer": {"email": "a@example.com"}}' }, /Python/],
      ['a trailing newline added by an editor', { received: `${signed}\n` }, /without its trailing newline/],
    ])('explains %s (exit 1)', async (_label, change: { used?: string; received?: string; signedAs?: string }, expected) => {
      const c = await capture(change.signedAs ?? signed)
      const bodyFile = join(dir, `received-${Math.random()}.json`)
      writeFileSync(bodyFile, change.received ?? (change.signedAs ? signed : c.body))
      const r = await run(['verify', '--headers', c.headerFile, '--body', bodyFile, '--secret', change.used ?? SECRET])
      expect(r.code).toBe(1)
      expect(r.stdout).toContain('✗ not verified: signature_mismatch')
      expect(r.stdout).toMatch(expected)
      expect(r.stdout).not.toContain(change.used ?? SECRET)
    })

    it('explains a stale delivery: by how much, and that the signature itself is fine', async () => {
      const body = '{"event":"order.completed"}'
      const headers = await signWebhook({ secret: SECRET, body, type: 'order.completed', timestamp: Date.now() - 2 * 3600_000 })
      const flags = Object.entries(headers).flatMap(([k, v]) => ['--header', `${k}: ${v}`])
      const r = await run(['verify', ...flags, '--body', '-', '--secret', SECRET], { input: body })
      expect(r.code).toBe(1)
      expect(r.stdout).toMatch(/2\.0 h old, outside the tolerance of 300 s/)
      expect(r.stdout).toContain('the signature itself is valid')
      expect((await run(['verify', ...flags, '--body', '-', '--secret', SECRET, '--no-tolerance'], { input: body })).code).toBe(0)
    })

    it('recognises another sender\'s scheme', async () => {
      const req = await signedRequest({ provider: 'pocketbook', secret: SECRET, type: 'voucher.minted' })
      const flags = Object.entries(req.headers).flatMap(([k, v]) => ['--header', `${k}: ${v}`])
      const r = await run(['verify', ...flags, '--body', '-', '--secret', SECRET], { input: req.body })
      expect(r.code).toBe(1)
      expect(r.stdout).toContain('it verifies as a pocketbook delivery: use --provider pocketbook')
      expect((await run(['verify', ...flags, '--body', '-', '--secret', SECRET, '--provider', 'pocketbook'], { input: req.body })).code).toBe(0)
    })

    it('exit 2 without a body or headers', async () => {
      expect((await run(['verify', '--secret', SECRET])).code).toBe(2)
    })
  })

  describe('listen', () => {
    /** The built binary listening on a free port, its output collected as it comes. */
    async function startListen() {
      const child = spawn(process.execPath, [bin, 'listen', '--port', '0', '--secret', SECRET], { env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] })
      const listener = { child, out: '', target: '', exited: new Promise<number | null>((resolve) => child.once('exit', resolve)) }
      child.stdout.on('data', (c) => (listener.out += c))
      child.stderr.on('data', (c) => (listener.out += c))
      for (let i = 0; i < 100 && !/listening on http:\/\/localhost:(\d+)/.test(listener.out); i++) await new Promise((r) => setTimeout(r, 50))
      const port = /listening on http:\/\/localhost:(\d+)/.exec(listener.out)?.[1]
      listener.target = `http://127.0.0.1:${port}/webhooks/pocketsflow`
      return listener
    }

    async function waitFor(listener: { out: string }, text: string) {
      for (let i = 0; i < 100 && !listener.out.includes(text); i++) await new Promise((r) => setTimeout(r, 20))
    }

    it('verifies and prints deliveries, explains rejections, stops cleanly on SIGTERM', async () => {
      const listener = await startListen()
      try {
        const good = await signedRequest({ secret: SECRET, type: 'review.created' })
        expect((await fetch(listener.target, good)).status).toBe(200)
        expect((await fetch(listener.target, good)).status).toBe(200)
        const pretty = JSON.stringify(JSON.parse(good.body), null, 2)
        const reserialized = await fetch(listener.target, { ...good, body: pretty })
        expect(reserialized.status).toBe(401)
        await waitFor(listener, 're-serialized')
        expect(listener.out).toMatch(/✓ review\.created id [0-9a-f]{64}/)
        expect(listener.out).toContain('"review": {')
        expect(listener.out).toContain('duplicate review.created')
        expect(listener.out).toContain('✗ 401 signature_mismatch')
        expect(listener.out).toContain('the signature matches compact JSON')
        expect(listener.out).not.toContain(SECRET)
        listener.child.kill('SIGTERM')
        expect(await listener.exited).toBe(0)
        expect(listener.out).toContain('stopped')
      } finally {
        listener.child.kill()
      }
    })

    // A forged delivery whose diagnosis overflowed the stack used to end the process (issue: listen dies on one request).
    it.each([
      ['arrays', `${'['.repeat(10_000)}${']'.repeat(10_000)}`],
      ['objects', `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`],
    ])('survives a wrong-signature body of 10,000 nested %s and answers the next delivery', async (_label, body) => {
      const listener = await startListen()
      try {
        const forged = await signedRequest({ secret: 'whsec_someone_else', type: 'order.completed', body })
        expect((await fetch(listener.target, forged)).status).toBe(401)
        await new Promise((r) => setTimeout(r, 200))
        const good = await signedRequest({ secret: SECRET, type: 'order.completed' })
        expect((await fetch(listener.target, good)).status).toBe(200)
        expect(listener.child.exitCode).toBeNull()
        expect(listener.out).toContain('✗ 401 signature_mismatch')
        expect(listener.out).toContain('re-serialized JSON forms not tried: the body nests deeper than 256 levels')
        await waitFor(listener, '✓ order.completed')
        expect(listener.out).toContain('✓ order.completed')
      } finally {
        listener.child.kill()
      }
    })

    it('prints a note instead of a correctly signed payload nested too deep to print', async () => {
      const listener = await startListen()
      try {
        const deep = `{"event":"order.completed","data":${'['.repeat(10_000)}${']'.repeat(10_000)}}`
        expect((await fetch(listener.target, await signedRequest({ secret: SECRET, type: 'order.completed', body: deep }))).status).toBe(200)
        await waitFor(listener, 'not printed')
        expect(listener.out).toMatch(/payload nests deeper than \d+ levels: not printed/)
        expect((await fetch(listener.target, await signedRequest({ secret: SECRET, type: 'review.created' }))).status).toBe(200)
        await waitFor(listener, '✓ review.created')
        expect(listener.out).toContain('✓ review.created')
        expect(listener.child.exitCode).toBeNull()
      } finally {
        listener.child.kill()
      }
    })

    it('answers a flood of forged deliveries, each rejection diagnosed or noted as not', async () => {
      const listener = await startListen()
      try {
        const body = JSON.stringify({ event: 'order.completed', filler: 'x'.repeat(60_000) })
        const forged = await signedRequest({ secret: 'whsec_someone_else', type: 'order.completed', body })
        const statuses = await Promise.all(Array.from({ length: 20 }, () => fetch(listener.target, forged).then((r) => r.status)))
        expect(statuses).toEqual(Array(20).fill(401))
        expect((await fetch(listener.target, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
        for (let i = 0; i < 100 && (listener.out.match(/→ wrong secret|not diagnosed/g) ?? []).length < 20; i++) await new Promise((r) => setTimeout(r, 20))
        // Every rejection gets its line, and then either its diagnosis or the note that it had none.
        expect(listener.out.match(/✗ 401 signature_mismatch/g)).toHaveLength(20)
        const diagnosed = listener.out.match(/→ wrong secret/g)?.length ?? 0
        const skipped = listener.out.match(/\(not diagnosed: another rejection is being diagnosed\)/g)?.length ?? 0
        expect(diagnosed).toBeGreaterThanOrEqual(1)
        expect(diagnosed + skipped).toBe(20)
        expect(listener.child.exitCode).toBeNull()
      } finally {
        listener.child.kill()
      }
    })
  })
})
