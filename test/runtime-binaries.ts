// The web-standard runtimes' own executables, from the npm packages test/runtimes depends on (`bun`,
// `deno`, `workerd`): spawned directly, not through their Node.js launchers, so that a signal sent
// to the child reaches the runtime. Undefined when a package is not installed.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const fromRuntimes = createRequire(join(dirname(fileURLToPath(import.meta.url)), 'runtimes', 'package.json'))

/** `path` inside the installed package `pkg`, resolved with `from`. */
function fileIn(pkg: string, path: string, from = fromRuntimes): string | undefined {
  try {
    const file = join(dirname(from.resolve(`${pkg}/package.json`)), path)
    return existsSync(file) ? file : undefined
  } catch {
    return undefined
  }
}

export const bunBinary = fileIn('bun', 'bin/bun.exe')
export const denoBinary = fileIn('deno', 'deno')

/** workerd's binary is in the platform package its npm package depends on. */
export const workerdBinary = (() => {
  const manifest = fileIn('workerd', 'package.json')
  if (manifest === undefined) return undefined
  const arch = process.arch === 'x64' ? '64' : process.arch
  return fileIn(`@cloudflare/workerd-${process.platform}-${arch}`, 'bin/workerd', createRequire(manifest))
})()

/** Under CI a missing runtime fails its tests; elsewhere they are skipped. */
export const CI = process.env['CI'] === 'true' || process.env['CI'] === '1'
