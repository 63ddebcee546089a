import type { HeadersInput, HeaderValue } from './types.js'

/** Returned when a header arrived more than once: a sender never does that, so the delivery is suspect. */
export const REPEATED_HEADER = Symbol('duplicate header')

function normalise(value: HeaderValue | unknown): string | undefined | typeof REPEATED_HEADER {
  if (typeof value === 'string') return value.trim()
  if (typeof value === 'number') return String(value)
  if (Array.isArray(value)) {
    if (value.length === 0) return undefined
    if (value.length > 1) return REPEATED_HEADER
    return normalise(value[0])
  }
  return undefined
}

/**
 * Reads one header by its lower-case name from fetch `Headers` or a plain object (Node's
 * `req.headers`, or a hand-written object in any letter case). Never throws.
 */
export function readHeader(headers: HeadersInput, name: string): string | undefined | typeof REPEATED_HEADER {
  if (headers == null || typeof headers !== 'object') return undefined
  const get = (headers as { get?: unknown }).get
  if (typeof get === 'function') {
    try {
      return normalise(get.call(headers, name))
    } catch {
      return undefined
    }
  }
  const record = headers as Readonly<Record<string, HeaderValue>>
  // Names passed here are header names, never Object.prototype members, so a direct read is safe.
  const direct = record[name]
  if (direct !== undefined) return normalise(direct)
  // Plain objects written by hand may use any letter case; Node's own are already lower-case.
  let found: string | undefined | typeof REPEATED_HEADER
  let seen = 0
  for (const key of Object.keys(record)) {
    if (key.length === name.length && key.toLowerCase() === name) {
      seen++
      found = normalise(record[key])
    }
  }
  return seen > 1 ? REPEATED_HEADER : found
}
