import { afterEach, describe, expect, it, vi } from 'vitest'
import { Deadlines } from './deadlines.js'

afterEach(() => vi.useRealTimers())

describe('Deadlines (one timer for every attempt)', () => {
  it('expires unfinished attempts at their own deadline, in start order, and never finished ones', () => {
    vi.useFakeTimers()
    const d = new Deadlines(100)
    const expired: string[] = []
    const a = d.start({ expire: () => expired.push('a') })
    vi.advanceTimersByTime(30)
    const b = d.start({ expire: () => expired.push('b') })
    vi.advanceTimersByTime(30)
    d.start({ expire: () => expired.push('c') })
    d.finish(b)
    vi.advanceTimersByTime(39) // t=99: nothing due
    expect(expired).toEqual([])
    vi.advanceTimersByTime(1) // t=100: a
    expect(expired).toEqual(['a'])
    d.finish(a) // finishing after expiry is harmless
    vi.advanceTimersByTime(60) // t=160: c (b finished)
    expect(expired).toEqual(['a', 'c'])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('keeps no timer once every attempt finished, and re-arms for new ones', () => {
    vi.useFakeTimers()
    const d = new Deadlines(50)
    const expired: number[] = []
    const first = d.start({ expire: () => expired.push(1) })
    expect(vi.getTimerCount()).toBe(1)
    d.finish(first)
    expect(vi.getTimerCount()).toBe(0)
    d.start({ expire: () => expired.push(2) })
    vi.advanceTimersByTime(50)
    expect(expired).toEqual([2])
  })

  it('stays small under a stream of attempts that finish in order', () => {
    vi.useFakeTimers()
    const d = new Deadlines(1000)
    for (let i = 0; i < 100_000; i++) d.finish(d.start({ expire: () => {} }))
    expect(vi.getTimerCount()).toBe(0)
  })
})
