// Checks of numeric options, shared by the packages built on the core, so that one mistake gets
// one wording wherever it is made.

/**
 * `value`, or `fallback` when it is undefined; throws a TypeError naming the option when it is not
 * a finite number above zero (or at least zero, with `allowZero`).
 */
export function positiveNumber(name: string, value: number | undefined, fallback: number, options: { allowZero?: boolean } = {}): number {
  if (value === undefined) return fallback
  const allowZero = options.allowZero === true
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new TypeError(`pocketsflow-webhooks: "${name}" must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${String(value)}`)
  }
  return value
}
