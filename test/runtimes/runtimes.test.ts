// createFetchHandler on the real web-standard runtimes: each server script of ./servers runs in its
// own Bun or Deno process (the binaries of this package's `bun` and `deno` npm dependencies) and is
// driven over real HTTP from here. Needs the built packages (`pnpm run build`). Under CI=true a
// runtime that is not installed fails the suite; elsewhere its tests are skipped.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { signedRequest, type SignedRequest } from '@pocketsflow-webhooks/core/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const here = dirname(fileURLToPath(import.meta.url))
const fromHere = createRequire(join(here, 'package.json'))
const CI = process.env['CI'] === 'true' || process.env['CI'] === '1'
const SECRET = 'whsec_runtimes_0123456789abcdef'
/** The servers' bodyLimit (servers/handler.mjs). */
const BODY_LIMIT = 16 * 1024
/** The first start may compile (Deno) or warm caches: generous. */
const START_TIMEOUT_MS = 15_000

/** The runtime's own executable inside its npm package (not the package's Node.js launcher, so a kill reaches it). */
function binary(pkg: string, path: string): string | undefined {
  try {
    const file = join(dirname(fromHere.resolve(`${pkg}/package.json`)), path)
    return existsSync(file) ? file : undefined
  } catch {
    return undefined
  }
}

interface Runtime {
  readonly name: string
  readonly command: string | undefined
  readonly args: readonly string[]
}

const bun = binary('bun', 'bin/bun.exe')

const RUNTIMES: readonly Runtime[] = [
  { name: 'createFetchHandler on Bun', command: bun, args: ['servers/bun.mjs'] },
  {
    name: 'createFetchHandler on Deno',
    command: binary('deno', 'deno'),
    // npm packages from test/runtimes/node_modules as pnpm linked them (nothing fetched, nothing written);
    // only the permissions the server needs.
    args: [
      'run',
      '--node-modules-dir=manual',
      '--no-config',
      '--no-lock',
      '--no-prompt',
      '--allow-env=POCKETSFLOW_WEBHOOK_SECRET',
      '--allow-net=127.0.0.1',
      'servers/deno.mjs',
    ],
  },
  // The Hono adapter (packages/hono, built) in a Hono app Bun serves: the same contract.
  { name: '@pocketsflow-webhooks/hono on Bun', command: bun, args: ['servers/hono-bun.mjs'] },
]

interface Server {
  readonly base: string
  readonly child: ChildProcess
  lines(): string[]
  output(): string
  /** Resolves once a stdout line satisfies `match`, rejects after `timeoutMs`. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>
}

async function startServer(runtime: Runtime, command: string): Promise<Server> {
  const child = spawn(command, runtime.args, {
    cwd: here,
    env: { ...process.env, POCKETSFLOW_WEBHOOK_SECRET: SECRET, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let output = ''
  let exited: string | undefined
  const waiters = new Set<() => void>()
  const notify = () => waiters.forEach((wake) => wake())
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
    output += chunk.toString()
    notify()
  })
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString()
  })
  child.once('error', (error) => {
    exited = `failed to start: ${error.message}`
    notify()
  })
  child.once('exit', (code, signal) => {
    exited = `exited (${code ?? signal})`
    notify()
  })
  const lines = () => stdout.split('\n').filter((line) => line !== '')
  const waitForLine = (match: (line: string) => boolean, timeoutMs = 3_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = lines().find(match)
        if (found === undefined && exited === undefined) return
        waiters.delete(check)
        clearTimeout(timer)
        if (found !== undefined) resolve(found)
        else reject(new Error(`${runtime.name} server ${exited}:\n${output}`))
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`${runtime.name} server: no such line within ${timeoutMs} ms:\n${output}`))
      }, timeoutMs)
      waiters.add(check)
      check()
    })
  const server = { base: '', child, lines, output: () => output, waitForLine }
  try {
    const listening = await waitForLine((line) => line.startsWith('listening '), START_TIMEOUT_MS)
    return { ...server, base: `http://127.0.0.1:${listening.slice('listening '.length)}/webhooks/pocketsflow` }
  } catch (error) {
    await stopServer(child)
    throw error
  }
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 2_000)
  await exited
  clearTimeout(timer)
}

const post = (url: string, request: SignedRequest) => fetch(url, { method: 'POST', headers: request.headers, body: request.body })

/** A body of `size` bytes as a stream: fetch sends it chunked, with no Content-Length. */
function chunkedBody(size: number, chunk = 4 * 1024): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= size) return controller.close()
      const bytes = new Uint8Array(Math.min(chunk, size - sent)).fill(0x20)
      sent += bytes.byteLength
      controller.enqueue(bytes)
    },
  })
}

const handledLines = (server: Server) => server.lines().filter((line) => line.startsWith('handled '))

for (const runtime of RUNTIMES) {
  const { command } = runtime
  // Outside CI a runtime that is not installed is skipped; under CI its tests run and fail.
  describe.skipIf(command === undefined && !CI)(runtime.name, () => {
    let server: Server

    beforeAll(async () => {
      if (command === undefined) throw new Error(`${runtime.name}: the runtime is not installed (test/runtimes: pnpm install)`)
      server = await startServer(runtime, command)
    }, START_TIMEOUT_MS + 5_000)

    afterAll(async () => {
      if (server) await stopServer(server.child)
    })

    it('a signed delivery: 200 {"received":true}, the handler runs once, after the response', async () => {
      const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
      const response = await post(server.base, delivery)
      expect(response.status).toBe(200)
      expect(await response.text()).toBe('{"received":true}')
      const handled = await server.waitForLine((line) => line.startsWith('handled '))
      const lines = server.lines()
      expect(lines.indexOf('responded 200')).toBeGreaterThanOrEqual(0)
      expect(lines.indexOf('responded 200')).toBeLessThan(lines.indexOf(handled))
      expect(handledLines(server)).toEqual([handled])

      // The same delivery again: acknowledged as a duplicate, never handled twice.
      const again = await post(server.base, delivery)
      expect(again.status).toBe(200)
      expect(await again.json()).toEqual({ received: true, duplicate: true })
      await new Promise((resolve) => setTimeout(resolve, 150))
      expect(server.lines().filter((line) => line === 'responded 200')).toHaveLength(2)
      expect(handledLines(server)).toEqual([handled])
    })

    it('a forgery (signed with another secret): 401, not handled', async () => {
      const forged = await signedRequest({ secret: `${SECRET}_forged`, type: 'order.completed' })
      const response = await post(server.base, forged)
      expect(response.status).toBe(401)
      expect(await response.json()).toEqual({ error: 'invalid signature' })
    })

    it('GET: 405 with Allow: POST', async () => {
      const response = await fetch(server.base)
      expect(response.status).toBe(405)
      expect(response.headers.get('allow')).toBe('POST')
      expect(await response.json()).toEqual({ error: 'method not allowed' })
    })

    it('a body over bodyLimit sent chunked, without Content-Length: 413', async () => {
      const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
      const init: RequestInit & { duplex: 'half' } = {
        method: 'POST',
        headers: delivery.headers,
        body: chunkedBody(BODY_LIMIT * 4),
        duplex: 'half',
      }
      const request = new Request(server.base, init)
      expect(request.headers.get('content-length')).toBeNull()
      const response = await fetch(request)
      expect(response.status).toBe(413)
      expect(await response.json()).toEqual({ error: 'payload too large' })
    })

    it('malformed JSON, correctly signed: 400', async () => {
      const malformed = await signedRequest({ secret: SECRET, type: 'order.completed', body: '{"event":"order.completed",' })
      const response = await post(server.base, malformed)
      expect(response.status).toBe(400)
      expect(await response.json()).toEqual({ error: 'invalid payload' })
    })

    it('only the one accepted delivery was ever handled', async () => {
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(handledLines(server)).toHaveLength(1)
    })
  })
}
