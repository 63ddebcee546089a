// For the packages' dist tests: what a built entry file loads, following its relative imports.
import { readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join } from 'node:path'

export const NODE_BUILTINS: ReadonlySet<string> = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]))

/** Every bare module specifier reachable from `entry` (a file in `dist`), sorted and unique. */
export function reachableImports(dist: string, entry: string): string[] {
  const seen = new Set<string>()
  const external = new Set<string>()
  const visit = (file: string) => {
    if (seen.has(file)) return
    seen.add(file)
    const source = readFileSync(file, 'utf8')
    for (const match of source.matchAll(/(?:from\s*|import\s*\(\s*|require\(\s*|^import\s+)['"]([^'"]+)['"]/gm)) {
      const spec = match[1] as string
      if (spec.startsWith('.')) visit(join(dirname(file), spec))
      else external.add(spec)
    }
  }
  visit(join(dist, entry))
  return [...external].sort()
}
