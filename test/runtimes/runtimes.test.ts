// createFetchHandler on the real web-standard runtimes: each server script of ./servers runs in its
// own Bun, Deno or workerd process (the binaries of this package's `bun`, `deno` and `workerd` npm
// dependencies) and is driven over real HTTP from here. Needs the built packages (`pnpm run build`).
// Under CI=true a runtime that is not installed fails the suite; elsewhere its tests are skipped.
import { spawn, type ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { signedRequest, type SignedRequest } from '@pocketsflow-webhooks/core/testing'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bunBinary, CI, denoBinary, workerdBinary } from '../runtime-binaries.js'
// @ts-expect-error: the example's plain ES module, without types
import { bundleWorker } from '../../examples/cloudflare-worker/build.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const SECRET = 'whsec_runtimes_0123456789abcdef'
/** The servers' bodyLimit (servers/handler.mjs). */
const BODY_LIMIT = 16 * 1024
/** The first start may compile (Deno) or warm caches: generous. */
const START_TIMEOUT_MS = 15_000

interface Runtime {
  readonly name: string
  readonly command: string | undefined
  /** The command's arguments, or (workerd) made at start-up in a scratch directory it may write to. */
  readonly args: readonly string[] | ((scratch: string) => Promise<string[]>)
  /** The port the server listens on, from its output; by default its stdout line `listening <port>`. */
  readonly port?: (output: string) => string | undefined
  /** servers/worker.mjs, which also takes `?unbound` (ctx.waitUntil passed without its context). */
  readonly unboundWaitUntil?: boolean
}

const bun = bunBinary

/**
 * A Worker as wrangler would deploy it: the script bundled as examples/cloudflare-worker bundles
 * its own (esbuild, the `workerd` export condition: the core's Web Crypto build), and a workerd
 * config that serves it on a free loopback port, the secret bound from the environment.
 */
async function workerArgs(script: string, scratch: string): Promise<string[]> {
  await bundleWorker(join(here, script), { outfile: join(scratch, 'worker.js') })
  const config = `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "worker.js")],
  compatibilityDate = "2026-11-01",
  bindings = [(name = "POCKETSFLOW_WEBHOOK_SECRET", fromEnvironment = "POCKETSFLOW_WEBHOOK_SECRET")],
);
`
  await writeFile(join(scratch, 'config.capnp'), config)
  return ['serve', join(scratch, 'config.capnp')]
}

/** workerd says where it listens on stderr: `Listening on http://127.0.0.1:<port>`. */
const workerdPort = (output: string) => /Listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)?.[1]

const RUNTIMES: readonly Runtime[] = [
  { name: 'createFetchHandler on Bun', command: bun, args: ['servers/bun.mjs'] },
  {
    name: 'createFetchHandler on Deno',
    command: denoBinary,
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
  // Cloudflare's runtime: the handlers outlive the response only through ctx.waitUntil, and the
  // servers' handlers take 100 ms, so a handler that ran proves they were handed to it.
  {
    name: 'createFetchHandler on workerd (Cloudflare Workers)',
    command: workerdBinary,
    args: (scratch) => workerArgs('servers/worker.mjs', scratch),
    port: workerdPort,
    unboundWaitUntil: true,
  },
  {
    name: '@pocketsflow-webhooks/hono on workerd (Cloudflare Workers)',
    command: workerdBinary,
    args: (scratch) => workerArgs('servers/hono-worker.mjs', scratch),
    port: workerdPort,
  },
]

interface Server {
  readonly base: string
  readonly child: ChildProcess
  readonly scratch: string
  lines(): string[]
  output(): string
  /** Resolves once a stdout line satisfies `match`, rejects after `timeoutMs`. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>
}

async function startServer(runtime: Runtime, command: string): Promise<Server> {
  const scratch = await mkdtemp(join(tmpdir(), 'pocketsflow-runtime-'))
  const args = typeof runtime.args === 'function' ? await runtime.args(scratch) : runtime.args
  const child = spawn(command, args, {
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
  const server = { base: '', child, scratch, lines, output: () => output, waitForLine }
  try {
    const port = runtime.port
      ? await waitFor(() => runtime.port?.(output), () => exited, START_TIMEOUT_MS, runtime.name, () => output)
      : (await waitForLine((line) => line.startsWith('listening '), START_TIMEOUT_MS)).slice('listening '.length)
    return { ...server, base: `http://127.0.0.1:${port}/webhooks/pocketsflow` }
  } catch (error) {
    await stopServer(server)
    throw error
  }
}

/** Polls `read` until it gives a value; fails if the process exits or after `timeoutMs`. */
async function waitFor<T>(
  read: () => T | undefined,
  exited: () => string | undefined,
  timeoutMs: number,
  name: string,
  output: () => string,
): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = read()
    if (value !== undefined) return value
    if (exited() !== undefined) throw new Error(`${name} server ${exited()}:\n${output()}`)
    if (Date.now() > until) throw new Error(`${name} server: not listening within ${timeoutMs} ms:\n${output()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function stopServer({ child, scratch }: Pick<Server, 'child' | 'scratch'>): Promise<void> {
  await stopProcess(child)
  await rm(scratch, { recursive: true, force: true })
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 2_000)
  await exited
  clearTimeout(timer)
}

const post = (url: string, request: SignedRequest) => fetch(url, { method: 'POST', headers: request.headers, body: request.body })

/**
 * POSTs up to `size` bytes of spaces with `Transfer-Encoding: chunked` (no Content-Length) over a
 * raw socket, a chunk at a time, and stops sending once an answer arrives. A server may answer 413
 * and close while the body is still coming (workerd does): fetch would then fail with EPIPE, and
 * writing on would make the connection reset and the answer lost.
 */
function postChunked(url: string, headers: Record<string, string>, size: number): Promise<{ status: number; body: string }> {
  const { hostname, port, pathname } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname)
    let received = ''
    let done = false
    const finish = (error?: Error) => {
      if (done) return
      done = true
      socket.destroy()
      clearTimeout(timer)
      if (error) return reject(error)
      const [head = '', rest = ''] = received.split('\r\n\r\n', 2)
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1])
      // One small JSON answer: whole, or as the first chunk.
      const body = /transfer-encoding: chunked/i.test(head) ? (rest.split('\r\n')[1] ?? '') : rest
      resolve({ status, body })
    }
    /** The whole answer is in: headers and a body of Content-Length bytes, or the last chunk. */
    const complete = () => {
      const end = received.indexOf('\r\n\r\n')
      if (end < 0) return false
      const head = received.slice(0, end)
      const length = /content-length: (\d+)/i.exec(head)?.[1]
      if (length !== undefined) return received.length - end - 4 >= Number(length)
      return received.endsWith('0\r\n\r\n')
    }
    const timer = setTimeout(() => finish(new Error(`no complete answer within 5 s: ${JSON.stringify(received)}`)), 5_000)
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1')
      if (complete()) finish()
    })
    socket.on('error', (error) => finish(received === '' ? error : undefined))
    socket.on('close', () => finish(received === '' ? new Error('closed without an answer') : undefined))
    socket.on('connect', async () => {
      const lines = [`POST ${pathname} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Transfer-Encoding: chunked', 'Connection: close']
      for (const [name, value] of Object.entries(headers)) if (name.toLowerCase() !== 'content-length') lines.push(`${name}: ${value}`)
      socket.write(`${lines.join('\r\n')}\r\n\r\n`)
      const chunk = `${(4096).toString(16)}\r\n${' '.repeat(4096)}\r\n`
      for (let sent = 0; sent < size; sent += 4096) {
        if (received !== '' || done) return
        socket.write(chunk)
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      if (received === '' && !done) socket.write('0\r\n\r\n')
    })
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
      if (server) await stopServer(server)
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
      const response = await postChunked(server.base, delivery.headers, BODY_LIMIT * 4)
      expect(response.status).toBe(413)
      expect(JSON.parse(response.body)).toEqual({ error: 'payload too large' })
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

    // Only where the server takes `?unbound` (servers/worker.mjs): defined there, not skipped elsewhere.
    if (runtime.unboundWaitUntil) it('ctx.waitUntil passed unbound: 500 before anything is claimed; bound, the same delivery is handled', async () => {
      const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
      const refused = await post(`${server.base}?unbound`, delivery)
      expect(refused.status).toBe(500)
      expect(await refused.json()).toEqual({ error: 'webhook receiver misconfigured' })
      const accepted = await post(server.base, delivery)
      expect(await accepted.json()).toEqual({ received: true })
      await server.waitForLine((line) => line.startsWith('handled ') && !handledLines(server).slice(0, 1).includes(line))
      expect(handledLines(server)).toHaveLength(2)
    })
  })
}
