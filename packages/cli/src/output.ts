// Colour only when a person is watching: piped output and NO_COLOR stay plain.
const enabled = () => Boolean(process.stdout.isTTY) && !process.env['NO_COLOR']
const paint = (code: number) => (text: string) => (enabled() ? `\x1b[${code}m${text}\x1b[0m` : text)
export const green = paint(32)
export const red = paint(31)
export const yellow = paint(33)
export const dim = paint(2)
export const bold = paint(1)

export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const

/** A mistake in how the command was called: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}

export function statusColour(status: number): string {
  return (status >= 200 && status < 300 ? green : red)(String(status))
}
