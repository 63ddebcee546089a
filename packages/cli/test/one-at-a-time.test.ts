import { describe, expect, it } from 'vitest'
import { oneAtATime } from '../src/one-at-a-time.js'

describe('oneAtATime', () => {
  it('drops calls made while one runs, and runs again once it is done, even after a failure', async () => {
    let finish = () => {}
    const ran: number[] = []
    const task = oneAtATime(async (n: number) => {
      ran.push(n)
      if (n === 3) throw new Error('failed')
      await new Promise<void>((resolve) => (finish = resolve))
    })
    const first = task(1)
    expect(await task(2)).toBe(false)
    finish()
    expect(await first).toBe(true)
    await expect(task(3)).rejects.toThrow('failed')
    const fourth = task(4)
    finish()
    expect(await fourth).toBe(true)
    expect(ran).toEqual([1, 3, 4])
  })
})
