// Builds a real Next.js app with `next build` and serves it with `next start`, for the end-to-end
// tests of examples/next (Next 16) and test/fixtures/next14. Both apps record what their webhook
// handlers did, and list it at GET /api/effects.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { signedRequest, type SignedRequestOptions } from '@pocketsflow-webhooks/core/testing'

export interface Effect {
  route: string
  type: string
  id: string
  email?: string
  at: number
}

export interface RunningApp {
  readonly url: string
  /** Everything the build and the server printed. */
  output(): string
  effects(): Promise<Effect[]>
  stop(): Promise<void>
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

function run(child: ChildProcess, log: (text: string) => void): Promise<number | null> {
  child.stdout?.on('data', (chunk) => log(String(chunk)))
  child.stderr?.on('data', (chunk) => log(String(chunk)))
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', resolve)
  })
}

/**
 * `next build` (without the webhook secret, as in a Docker build), then `next start` with it.
 * NODE_ENV is production: vitest's `test` would make Next warn and behave differently.
 */
export async function buildAndStart(dir: string, env: Record<string, string>): Promise<RunningApp> {
  const built = await nextBuild(dir, {})
  const app = await nextStart(dir, env)
  return { ...app, output: () => built + app.output() }
}

function nextBin(dir: string): string {
  const dist = join(dir, 'node_modules', '@pocketsflow-webhooks', 'next', 'dist', 'index.js')
  if (!existsSync(dist)) throw new Error('packages/next/dist is missing: run `pnpm build` first')
  return join(dir, 'node_modules', 'next', 'dist', 'bin', 'next')
}

function baseEnv(): Record<string, string | undefined> {
  const { POCKETSFLOW_WEBHOOK_SECRET: _secret, ...inherited } = process.env
  return { ...inherited, NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1' }
}

/** `next build` with these variables on top of the environment (minus the webhook secret); resolves with its output. */
export async function nextBuild(dir: string, env: Record<string, string>): Promise<string> {
  let output = ''
  rmSync(join(dir, '.data'), { recursive: true, force: true })
  const build = spawn(process.execPath, [nextBin(dir), 'build'], { cwd: dir, env: { ...baseEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const code = await run(build, (text) => void (output += text))
  if (code !== 0) throw new Error(`next build failed (${code}):\n${output}`)
  return output
}

/** `next start` on a free port, once `readyPath` answers. `stop()` sends SIGTERM (SIGKILL after 5 s). */
export async function nextStart(dir: string, env: Record<string, string>, readyPath = '/api/effects'): Promise<RunningApp & { readonly exited: Promise<number | null> }> {
  let output = ''
  const log = (text: string) => void (output += text)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const server = spawn(process.execPath, [nextBin(dir), 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: dir,
    env: { ...baseEnv(), ...env, EFFECTS_URL: url },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const exited = run(server, log)
  const stop = async () => {
    if (server.exitCode !== null || server.signalCode !== null) return
    server.kill('SIGTERM')
    const timer = setTimeout(() => server.kill('SIGKILL'), 5000)
    await exited.catch(() => {})
    clearTimeout(timer)
  }
  try {
    for (let i = 0; ; i++) {
      if (server.exitCode !== null) throw new Error(`next start exited (${server.exitCode}):\n${output}`)
      const ok = await fetch(`${url}${readyPath}`).then((res) => res.ok, () => false)
      if (ok) break
      if (i > 300) throw new Error(`next start did not answer within 30 s:\n${output}`)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } catch (error) {
    await stop()
    throw error
  }
  return {
    url,
    output: () => output,
    effects: async () => (await (await fetch(`${url}/api/effects`)).json()) as Effect[],
    stop,
    exited,
  }
}

/** Posts a delivery; `mutate` turns a correctly signed one into a bad one. */
export async function deliver(
  url: string,
  options: SignedRequestOptions,
  mutate: (req: { method: string; headers: Record<string, string>; body: string }) => RequestInit = (req) => req,
): Promise<{ status: number; allow: string | null; body: string }> {
  const req = await signedRequest(options)
  const res = await fetch(url, mutate({ ...req }))
  return { status: res.status, allow: res.headers.get('allow'), body: await res.text() }
}

export async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}
