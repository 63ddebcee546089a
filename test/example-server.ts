// Starts an example's server.mjs the way a user would (its own process, PORT=0 for a free port)
// and reads the URL it prints. Shared by the examples' tests.
import { spawn } from 'node:child_process'

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

export async function startExample(script: string, env: Record<string, string>): Promise<ExampleServer> {
  const child = spawn(process.execPath, [script], {
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
  const listening = /listening on http:\/\/localhost:(\d+)(\/\S*)/.exec(await waitFor('listening'))
  if (!listening) {
    child.kill()
    throw new Error(`${script} did not start:\n${output}`)
  }
  const base = `http://127.0.0.1:${listening[1]}`
  return { base, url: base + listening[2], child, exited, waitFor, output: () => output }
}
