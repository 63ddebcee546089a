// Starts an example's server.mjs the way a user would (its own process, PORT=0 for a free port)
// and reads the URL it prints. Shared by the examples' tests.
import { spawn } from 'node:child_process'
import { dirname } from 'node:path'

export interface ExampleServer {
  /** http://127.0.0.1:<port> */
  readonly base: string
  /** The webhook URL the server printed. */
  readonly url: string
  readonly child: ReturnType<typeof spawn>
  readonly exited: Promise<number | null>
  /** Resolves with everything printed so far once `text` appears (or after ~5 s). */
  waitFor(text: string): Promise<string>
  output(): string
}

export interface ExampleRuntime {
  /** The executable (default: this Node.js) and its arguments before the script. */
  readonly command?: string
  readonly args?: readonly string[]
  /** The webhook path, for a server that prints only where it listens (workerd). */
  readonly webhookPath?: string
}

/** Runs `script` in its own directory, with `runtime` (default: Node.js). */
export async function startExample(script: string, env: Record<string, string>, runtime: ExampleRuntime = {}): Promise<ExampleServer> {
  const child = spawn(runtime.command ?? process.execPath, [...(runtime.args ?? []), script], {
    cwd: dirname(script),
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout?.on('data', (chunk) => (output += chunk))
  child.stderr?.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const waitFor = async (text: string) => {
    for (let i = 0; i < 100 && !output.includes(text); i++) await new Promise((r) => setTimeout(r, 50))
    return output
  }
  // `listening on http://localhost:<port>/path` (the examples), `Listening on http://127.0.0.1:<port>` (workerd).
  const listening = /listening on http:\/\/(?:localhost|127\.0\.0\.1):(\d+)(\/\S*)?/i.exec(await waitFor('istening on'))
  if (!listening) {
    child.kill()
    throw new Error(`${script} did not start:\n${output}`)
  }
  const base = `http://127.0.0.1:${listening[1]}`
  return { base, url: base + (listening[2] ?? runtime.webhookPath ?? ''), child, exited, waitFor, output: () => output }
}

/**
 * What every single-route example must do, played against a started server (the handlers of
 * examples/node-http, hono, bun, deno and cloudflare-worker log the same lines): a signed order is
 * acknowledged and handled once, its duplicate acknowledged and not handled, an alias type reaches
 * its handler, forgeries, stale and oversized deliveries and other methods are refused, and other
 * paths are not the webhook's. Ends with SIGTERM: the server drains and exits 0 (`drains`), or
 * just stops (workerd, which has no shutdown hook for a Worker).
 */
export async function playExampleContract(
  server: ExampleServer,
  { secret, orderId, drains = true }: { secret: string; orderId: string; drains?: boolean },
): Promise<void> {
  const { expect } = await import('vitest')
  const { signedRequest } = await import('@pocketsflow-webhooks/core/testing')
  const post = (req: { headers: Record<string, string>; body: string }) => fetch(server.url, { method: 'POST', headers: req.headers, body: req.body })

  const order = await signedRequest({ secret, type: 'order.completed', overrides: { order: { id: orderId } } })
  const accepted = await post(order)
  expect(accepted.status).toBe(200)
  expect(await accepted.json()).toEqual({ received: true })
  expect(await (await post(order)).json()).toEqual({ received: true, duplicate: true })
  expect(await server.waitFor(`order ${orderId}`)).toContain(`order ${orderId}: grant access`)

  const paused = await signedRequest({ secret, type: 'customer.subscription.pause' })
  expect((await post(paused)).status).toBe(200)
  expect(await server.waitFor('subscription paused')).toContain('subscription paused')

  const forged = { ...order, body: order.body.replace(orderId, `${orderId}_forged`) }
  expect((await post(forged)).status).toBe(401)
  expect((await post(await signedRequest({ secret, type: 'order.completed', timestamp: Date.now() - 3_600_000 }))).status).toBe(401)
  const wrongMethod = await fetch(server.url)
  expect(wrongMethod.status).toBe(405)
  expect(wrongMethod.headers.get('allow')).toBe('POST')
  const huge = await signedRequest({ secret, type: 'order.completed', overrides: { padding: 'x'.repeat(2 * 1024 * 1024) } })
  expect((await post(huge)).status).toBe(413)
  expect((await fetch(`${server.base}/other`)).status).toBe(404)

  // Handled once: the duplicate ran nothing, the forgery nothing.
  await new Promise((resolve) => setTimeout(resolve, 100))
  expect(server.output().match(new RegExp(`order ${orderId}:`, 'g'))).toHaveLength(1)
  expect(server.output()).not.toContain(`${orderId}_forged`)

  server.child.kill('SIGTERM')
  const code = await server.exited
  if (drains) {
    expect(code).toBe(0)
    expect(server.output()).toContain('drained, bye')
  }
}
