/**
 * JSON.parse itself never sets a prototype, but it does create own `__proto__` keys, and the first
 * `Object.assign` or deep-merge a user runs over the payload would then change a prototype. Those
 * keys are removed after parsing, as are `constructor` objects carrying a `prototype` (the other
 * classic deep-merge vector). Walking the parsed value sees keys after JSON unescaping, so
 * `"\u005f_proto__"` is caught too; it costs about a tenth of JSON.parse, less than scanning the
 * text for suspicious substrings would.
 */
export function parseJson(text: string): unknown {
  let value: unknown
  try {
    // A UTF-8 byte order mark is legal before JSON text; TextDecoder drops it, Buffer keeps it.
    value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
  } catch {
    return MALFORMED
  }
  if (value !== null && typeof value === 'object') strip(value)
  return value
}

/** What parseJson returns for text that is not JSON (no JSON value can be a symbol). */
export const MALFORMED: unique symbol = Symbol('malformed JSON')

function strip(root: object): void {
  const stack: object[] = [root]
  while (stack.length > 0) {
    const node = stack.pop() as Record<string, unknown>
    if (Array.isArray(node)) {
      for (let i = 0; i < node.length; i++) {
        const item: unknown = node[i]
        if (item !== null && typeof item === 'object') stack.push(item)
      }
      continue
    }
    if (Object.hasOwn(node, '__proto__')) delete node['__proto__']
    for (const key in node) {
      const child = node[key]
      if (child === null || typeof child !== 'object') continue
      if (key === 'constructor' && Object.hasOwn(child, 'prototype')) delete node[key]
      else stack.push(child)
    }
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}
