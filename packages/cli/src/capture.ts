// Reading a captured request: headers typed on the command line or pasted from a delivery log,
// and the body exactly as bytes (never through a text round-trip that could change them).

/** Parses `Name: value` lines; a request line (`POST /path HTTP/1.1`) and blank lines are skipped. */
export function parseHeaderLines(lines: readonly string[]): Record<string, string | string[]> {
  const headers: Record<string, string | string[]> = {}
  for (const raw of lines) {
    const line = raw.replace(/\r$/, '')
    if (line.trim() === '' || /^[A-Z]+ \S+ HTTP\/\d/.test(line)) continue
    const colon = line.indexOf(':')
    if (colon <= 0) throw new Error(`not a header line: ${JSON.stringify(line)} (expected "Name: value")`)
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    const existing = headers[name]
    headers[name] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value]
  }
  return headers
}

/** Splits a raw HTTP request (head, blank line, body) keeping the body's bytes untouched. */
export function splitRawRequest(bytes: Uint8Array): { head: string; body: Uint8Array } {
  for (let i = 0; i < bytes.length - 1; i++) {
    if (bytes[i] === 0x0a && bytes[i + 1] === 0x0a) return { head: decode(bytes.subarray(0, i)), body: bytes.subarray(i + 2) }
    if (bytes[i] === 0x0d && bytes[i + 1] === 0x0a && bytes[i + 2] === 0x0d && bytes[i + 3] === 0x0a) {
      return { head: decode(bytes.subarray(0, i)), body: bytes.subarray(i + 4) }
    }
  }
  return { head: decode(bytes), body: new Uint8Array(0) }
}

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes)
