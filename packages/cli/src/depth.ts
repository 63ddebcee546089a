/**
 * How deep a parsed body may nest before the CLI stops re-serializing or printing it. No webhook
 * payload comes near it, and JSON.stringify (recursive in V8, it overflows the stack at a few
 * thousand levels) and the recursive forms in diagnose.ts stay far from the stack's limit below it.
 */
export const MAX_NESTING = 256

/**
 * Whether a parsed JSON value nests more than `limit` arrays or objects deep. Walks with its own
 * stack, so that asking about a hostile value cannot overflow the call stack the way serializing
 * it would.
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]]
  for (let entry = stack.pop(); entry; entry = stack.pop()) {
    const [node, depth] = entry
    if (node === null || typeof node !== 'object') continue
    if (depth >= limit) return true
    for (const child of Object.values(node)) stack.push([child, depth + 1])
  }
  return false
}
