// The core README's runnable examples beyond the first (test/readmes.test.ts runs that one): each
// is extracted from the README as printed and run with Node.js from this package, where its
// imports resolve (zod is a dev dependency here, as it would be the reader's).
import { execFile } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const dir = join(dirname(fileURLToPath(import.meta.url)), '..')

/** The first ```js block after the heading `### ${heading}`. */
function snippetUnder(heading: string): string {
  const readme = readFileSync(join(dir, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf(`### ${heading}\n`))
  const block = /```js\n([\s\S]*?)```/.exec(section)
  if (!section.startsWith('###') || !block) throw new Error(`no js snippet under "### ${heading}"`)
  return block[1] as string
}

function runSnippet(code: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = join(dir, `readme-snippet-${process.pid}-${Math.random().toString(36).slice(2)}.tmp.mjs`)
  writeFileSync(script, code)
  return new Promise((resolve) => {
    execFile(process.execPath, [script], { cwd: dir }, (error, stdout, stderr) => {
      rmSync(script, { force: true })
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

describe('packages/core/README.md', () => {
  it('"Payload checks and test mode" runs as printed and does what its comments say', async () => {
    const run = await runSnippet(snippetUnder('Payload checks and test mode'))
    expect(run.code, run.stderr).toBe(0)
    const lines = run.stdout.trim().split('\n')
    expect(lines.filter((line) => line === '200 {"received":true}')).toHaveLength(3)
    expect(lines).toContain('granted to ada@example.com')
    expect(lines).toContain('not granted: customer.email: Invalid email address')
    expect(run.stdout).not.toContain('test@example.com')
    expect(lines.at(-1)).toBe('1 dead letter, to replay once fixed')
    // The logs name the failure without writing the payload (customer details) into them.
    expect(run.stderr).toContain('failed its schema')
    expect(run.stderr).not.toContain('not an address')
  })
})
