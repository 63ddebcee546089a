import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../src/inbox-toolkit.js'

const options = { maxAttempts: 5, minDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: false }

describe('backoffDelay', () => {
  it('grows exponentially up to the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, options))).toEqual([100, 200, 400, 800, 1000, 1000])
  })

  it('jitters within [delay/2, delay] so instances do not retry in lockstep', () => {
    const jittered = { ...options, jitter: true }
    expect(backoffDelay(3, jittered, () => 0)).toBe(200)
    expect(backoffDelay(3, jittered, () => 1)).toBe(400)
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(2, jittered)
      expect(d).toBeGreaterThanOrEqual(100)
      expect(d).toBeLessThanOrEqual(200)
    }
  })
})
