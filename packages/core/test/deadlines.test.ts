import { afterEach, describe, expect, it, vi } from 'vitest'
import { Deadlines } from '../src/deadlines.js'

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

  it('keeps a deadline set late, but due earlier (a handler that re-entered the receiver), in its place', () => {
    vi.useFakeTimers()
    const d = new Deadlines(1000)
    const expired: string[] = []
    const startedA = Date.now()
    vi.advanceTimersByTime(500) // A's synchronous part, during which B started
    d.start({ expire: () => expired.push('b') })
    d.start({ expire: () => expired.push('a') }, startedA)
    vi.advanceTimersByTime(499) // t=999
    expect(expired).toEqual([])
    vi.advanceTimersByTime(1) // t=1000: A's limit, counted from its start
    expect(expired).toEqual(['a'])
    vi.advanceTimersByTime(500) // t=1500: B's
    expect(expired).toEqual(['a', 'b'])
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
