import type { RejectionReason } from './types.js'

/** Values below this are read as seconds; Pocketsflow's own example sends milliseconds. 1e11 s is the year 5138. */
const SECONDS_BELOW = 1e11
/** The largest time a Date can hold, in ms: anything later is not a timestamp. */
const MAX_MS = 8.64e15

/**
 * Parses an epoch timestamp header into milliseconds. Only plain digits: `abc`, `123abc`, `NaN`,
 * `1e400`, `-1` and `1.5` are all rejected, and so is anything past what a Date can represent.
 */
export function parseTimestamp(text: string, unit: 'auto' | 'seconds'): number | undefined {
  // 1 to 16 ASCII digits, checked by hand: half the cost of a regular expression and Number(), per request.
  if (text.length === 0 || text.length > 16) return undefined
  let value = 0
  for (let i = 0; i < text.length; i++) {
    const digit = text.charCodeAt(i) - 48
    if (digit < 0 || digit > 9) return undefined
    value = value * 10 + digit
  }
  const ms = unit === 'seconds' || value < SECONDS_BELOW ? value * 1000 : value
  return ms <= MAX_MS ? ms : undefined
}

export const DEFAULT_TOLERANCE_SECONDS = 300

/**
 * `tolerance` in seconds, or `false` to switch the check off. Returns the rejection reason, if any.
 * Checked in both directions: a timestamp far in the future is as suspicious as an old one, and both
 * usually mean a skewed clock on one side, which is why the skew goes to the logs.
 */
export function checkTimestamp(
  timestampMs: number | undefined,
  toleranceSeconds: number | false,
  nowMs: number,
): RejectionReason | undefined {
  if (toleranceSeconds === false) return undefined
  if (timestampMs === undefined) return 'missing_timestamp'
  const skew = nowMs - timestampMs
  const limit = toleranceSeconds * 1000
  if (skew > limit) return 'timestamp_too_old'
  if (skew < -limit) return 'timestamp_in_future'
  return undefined
}

export function validateTolerance(tolerance: unknown): number | false {
  if (tolerance === undefined) return DEFAULT_TOLERANCE_SECONDS
  if (tolerance === false) return false
  if (typeof tolerance !== 'number' || !(tolerance >= 0) || Number.isNaN(tolerance)) {
    throw new TypeError(
      `pocketsflow-webhooks: "tolerance" must be a number of seconds >= 0 (or false to disable the check), got ${String(tolerance)}`,
    )
  }
  return tolerance
}
