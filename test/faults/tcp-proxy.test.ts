// The fault proxy itself: a fault it injects must be one a real network can produce. Delayed
// replies, in particular, keep their order (TCP does): a proxy that reordered them made the fault
// suite report defects that were its own.
import { Redis } from 'ioredis'
import { expect, it } from 'vitest'
import { startTcpProxy, throughProxy } from '../tcp-proxy.js'

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379'

it('delays replies without reordering them, while the delay changes', async () => {
  const target = new URL(REDIS_URL)
  const proxy = await startTcpProxy(Number(target.port || 6379), target.hostname)
  const client = new Redis(throughProxy(REDIS_URL, proxy))
  try {
    await client.ping()
    const mismatches: string[] = []
    setTimeout(() => proxy.delayReplies(700), 50)
    setTimeout(() => proxy.delayReplies(0), 600)
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        await new Promise((resolve) => setTimeout(resolve, i * 5))
        const reply = await client.eval('return KEYS[1]', 1, `key${i}`)
        if (reply !== `key${i}`) mismatches.push(`${i}: ${String(reply)}`)
      }),
    )
    expect(mismatches).toEqual([])
  } finally {
    client.disconnect()
    await proxy.close()
  }
})
