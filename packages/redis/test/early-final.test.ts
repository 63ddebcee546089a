// An attempt that ends an event sooner than its last (its payload failed its schema: no retry can
// change that) and cannot write the dead letter: the job's next pick-up only writes the letter. It
// used to run the handlers again as attempt 2, repeating one whose success had not been recorded.
import { Redis } from 'ioredis'
import { describe, expect, it, vi } from 'vitest'
import { createFetchHandler, type StandardSchemaV1 } from '@pocketsflow-webhooks/core'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { bullmqInbox } from '../src/index.js'
import { quiet, REDIS_URL, SECRET, testScope } from './helpers.js'

const scope = testScope()

const needsAmount: StandardSchemaV1 = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: (value) => (typeof (value as { amount?: unknown }).amount === 'number' ? { value } : { issues: [{ message: 'Required number', path: ['amount'] }] }),
  },
}

describe('bullmqInbox: an early final attempt whose dead letter could not be written', () => {
  it("writes the letter on the next pick-up without running a handler again whose success wasn't recorded", async () => {
    const queueName = scope.queue('early_final')
    // Redis refuses, once each, the worker's early record of onEvent's success and the dead-letter
    // write (a failover's READONLY): the two writes that would have kept the next pick-up honest.
    const faults = { mark: true, letter: true }
    const connection = new Redis(REDIS_URL, { lazyConnect: true })
    const duplicate = connection.duplicate.bind(connection)
    connection.duplicate = ((...args: Parameters<Redis['duplicate']>) => {
      const client = duplicate(...args)
      const name = args[0]?.connectionName ?? ''
      const evaluate = client.eval.bind(client) as (...a: unknown[]) => Promise<unknown>
      ;(client as unknown as { eval: (...a: unknown[]) => Promise<unknown> }).eval = (script: unknown, ...rest: unknown[]) => {
        const text = String(script)
        if (name.endsWith(':worker') && faults.mark && text.includes("'data'") && String(rest.at(-1)).includes('"completed":["onEvent"]')) {
          faults.mark = false
          return Promise.reject(new Error('READONLY (simulated)'))
        }
        if (name.endsWith(':producer') && faults.letter && text.includes("redis.call('ZADD', KEYS[2]")) {
          faults.letter = false
          return Promise.reject(new Error('READONLY (simulated)'))
        }
        return evaluate(script, ...rest)
      }
      return client
    }) as Redis['duplicate']
    scope.cleanups.push(async () => connection.disconnect())
    const inbox = bullmqInbox({ connection, queueName, prefix: queueName, logger: quiet, lockDurationMs: 5000, stalledIntervalMs: 1000 })
    const runs = { typed: 0, onEvent: 0 }
    const handle = createFetchHandler({
      secret: SECRET,
      logger: quiet,
      inbox,
      retry: { maxAttempts: 3, minDelayMs: 20, maxDelayMs: 20, jitter: false },
      schemas: { 'order.completed': needsAmount },
      on: { 'order.completed': () => void runs.typed++ },
      onEvent: () => void runs.onEvent++,
    })
    scope.cleanups.push(() => handle.close({ timeoutMs: 1000 }))
    const req = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { testMode: false, livemode: true, amount: 'lots' } })
    expect((await handle(new Request('http://shop.example/webhooks/pocketsflow', { method: 'POST', headers: req.headers, body: req.body }))).status).toBe(200)
    await vi.waitFor(async () => expect(await handle.deadLetters()).toHaveLength(1), { timeout: 10_000, interval: 50 })
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(faults).toEqual({ mark: false, letter: false })
    expect(runs).toEqual({ typed: 0, onEvent: 1 })
    const [letter] = await handle.deadLetters()
    // The success made it into the letter after all: a replay will not run onEvent again.
    expect(letter?.completedHandlers).toEqual(['onEvent'])
    expect(letter?.attempts).toBe(1)
  })
})
