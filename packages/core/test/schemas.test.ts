// Payload checks with Standard Schema validators (zod, valibot), in memory, through the Fetch
// handler: a failing payload is acknowledged and never lost, its type's handlers do not run, it is
// a dead letter after one attempt, and a replay after the fix runs them once.
import * as v from 'valibot'
import { describe, expect, expectTypeOf, it, vi } from 'vitest'
import { z } from 'zod'
import { createFetchHandler, WebhookValidationError, type StandardSchemaV1, type WebhookHandlerError } from '../src/index.js'
import { signedRequest } from '../src/testing/index.js'

const SECRET = 'whsec_schemas_test'
const quiet = { debug() {}, info() {}, warn() {}, error() {} }
const URL_ = 'https://shop.example/webhooks/pocketsflow'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function deliver(handle: (request: Request) => Promise<Response>, overrides: Record<string, unknown>, type = 'order.completed') {
  const req = await signedRequest({ secret: SECRET, type, overrides })
  const response = await handle(new Request(URL_, { method: 'POST', headers: req.headers, body: req.body }))
  return { status: response.status, body: (await response.json()) as unknown }
}

const zodOrder = z.object({ customer: z.object({ email: z.email() }), amount: z.number().positive() })
const valibotOrder = v.object({ customer: v.object({ email: v.pipe(v.string(), v.email()) }), amount: v.pipe(v.number(), v.minValue(0.01)) })
// The same checks, asynchronous (as a validator that looks something up would be).
const valibotOrderAsync = v.objectAsync({
  customer: v.object({ email: v.pipe(v.string(), v.email()) }),
  amount: v.pipeAsync(
    v.number(),
    v.checkAsync(async (amount) => (await sleep(1), amount > 0), 'must be positive'),
  ),
})

describe.each([
  ['zod', zodOrder],
  ['valibot', valibotOrder],
  ['valibot, async', valibotOrderAsync],
] as const)('schemas with %s', (_name, schema) => {
  it('a valid payload reaches its handlers; an invalid one is acknowledged, skips them, is not retried, reaches onError and is kept', async () => {
    const typed: unknown[] = []
    const caught: unknown[] = []
    const failedHook: { willRetry: boolean; attempt: number }[] = []
    let onEventRuns = 0
    const handle = createFetchHandler({
      secret: SECRET,
      logger: quiet,
      retry: { maxAttempts: 3, minDelayMs: 5, maxDelayMs: 5, jitter: false },
      schemas: { 'order.completed': schema },
      on: { 'order.completed': (event) => void typed.push(event.data.customer.email) },
      onEvent: () => void onEventRuns++,
      onError: (error) => void caught.push(error),
      hooks: { failed: (_error, _event, info) => void failedHook.push({ willRetry: info.willRetry, attempt: info.attempt }) },
    })
    expect(await deliver(handle, { customer: { email: 'ada@example.com' }, amount: 12 })).toEqual({ status: 200, body: { received: true } })
    await vi.waitFor(() => expect(typed).toEqual(['ada@example.com']))

    const bad = await deliver(handle, { customer: { email: 'not an address' }, amount: -3 })
    expect(bad).toEqual({ status: 200, body: { received: true } })
    await vi.waitFor(() => expect(caught).toHaveLength(1))
    await sleep(50)
    expect(typed).toEqual(['ada@example.com'])
    expect(onEventRuns).toBe(2) // onEvent is not checked: it ran for both
    expect(failedHook).toEqual([{ willRetry: false, attempt: 1 }])

    const error = caught[0] as WebhookValidationError
    expect(error).toBeInstanceOf(WebhookValidationError)
    expect(error.type).toBe('order.completed')
    expect(error.handler).toBe('order.completed')
    expect(error.attempts).toBe(1)
    expect(error.issues.map((issue) => issue.path)).toEqual([['customer', 'email'], ['amount']])
    // The message names the paths only: a validator's own messages may quote the customer's data.
    expect(error.message).toMatch(/failed its schema at customer\.email, amount, so order\.completed did not run$/)
    expect(Object.keys(error)).not.toContain('issues')

    const [letter] = await handle.deadLetters()
    expect(letter).toMatchObject({ type: 'order.completed', attempts: 1, failedHandlers: ['order.completed'], completedHandlers: ['onEvent'] })
    await handle.close()
  })
})

describe('schemas', () => {
  it('a replay after the schema is fixed runs the handler once; onEvent does not run again', async () => {
    let strict = true
    const switchable: StandardSchemaV1<unknown, { amount: number }> = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: (value) => (strict ? zodOrder : z.object({ amount: z.number() }))['~standard'].validate(value) as StandardSchemaV1.Result<{ amount: number }>,
      },
    }
    const runs = { typed: 0, onEvent: 0 }
    const handle = createFetchHandler({
      secret: SECRET,
      logger: quiet,
      schemas: { 'order.completed': switchable },
      on: { 'order.completed': () => void runs.typed++ },
      onEvent: () => void runs.onEvent++,
    })
    await deliver(handle, { customer: { email: 'nope' }, amount: 5 })
    await vi.waitFor(async () => expect(await handle.deadLetters()).toHaveLength(1))
    const [letter] = await handle.deadLetters()
    strict = false
    expect(await handle.replay(letter?.id as string)).toBe(true)
    await vi.waitFor(() => expect(runs.typed).toBe(1))
    await sleep(20)
    expect(runs).toEqual({ typed: 1, onEvent: 1 })
    expect(await handle.deadLetters()).toEqual([])
    await handle.close()
  })

  it("the handlers get the schema's output; unknown keys pass a plain object schema; event.payload keeps the whole body", async () => {
    const seen: unknown[] = []
    const handle = createFetchHandler({
      secret: SECRET,
      logger: quiet,
      schemas: {
        // The sender adds fields: they fail nothing. A loose object keeps them in the output too.
        'order.completed': z.looseObject({ amount: z.coerce.number() }),
        'order.refunded': z.object({ amount: z.number().default(0) }),
      },
      on: {
        'order.completed': (event) => void seen.push(['completed', event.data.amount, (event.data as Record<string, unknown>)['brandNew'], (event.payload as Record<string, unknown>)['brandNew']]),
        'order.refunded': (event) => void seen.push(['refunded', event.data, (event.payload as Record<string, unknown>)['brandNew']]),
      },
    })
    await deliver(handle, { amount: '12.5', brandNew: 'x' })
    await deliver(handle, { amount: undefined, brandNew: 'y' }, 'order.refunded')
    await vi.waitFor(() => expect(seen).toHaveLength(2))
    expect(seen).toContainEqual(['completed', 12.5, 'x', 'x'])
    expect(seen).toContainEqual(['refunded', { amount: 0 }, 'y'])
    await handle.close()
  })

  it('types without a schema are not checked; a validator that throws gives no verdict: a failure like any other, retried', async () => {
    const ran: string[] = []
    const caught: WebhookHandlerError[] = []
    let calls = 0
    const flaky: StandardSchemaV1 = {
      '~standard': {
        version: 1,
        vendor: 'test',
        validate: async (value) => {
          // A lookup that fails once (a reset connection), then answers.
          if (++calls === 1) throw new Error('ECONNRESET')
          return { value }
        },
      },
    }
    const handle = createFetchHandler({
      secret: SECRET,
      logger: quiet,
      retry: { maxAttempts: 2, minDelayMs: 5, maxDelayMs: 5, jitter: false },
      schemas: { 'order.refunded': flaky },
      on: { 'order.completed': () => void ran.push('completed'), 'order.refunded': () => void ran.push('refunded') },
      onError: (error) => void caught.push(error),
    })
    expect((await deliver(handle, { anything: true })).status).toBe(200)
    expect((await deliver(handle, { anything: true }, 'order.refunded')).status).toBe(200)
    await vi.waitFor(() => expect(ran.sort()).toEqual(['completed', 'refunded']))
    expect(calls).toBe(2)
    expect(caught).toEqual([])
    await handle.close()
  })

  it('a handler never starts once its attempt was given up during an async validation (time limit, close())', async () => {
    const started: string[] = []
    const slow: StandardSchemaV1 = {
      '~standard': { version: 1, vendor: 'test', validate: async (value) => (await sleep(150), { value }) },
    }
    const timedOut = createFetchHandler({
      secret: SECRET,
      logger: quiet,
      retry: false,
      handlerTimeoutMs: 30,
      schemas: { 'order.completed': slow },
      on: { 'order.completed': () => void started.push('after the time limit') },
    })
    await deliver(timedOut, { a: 1 })
    await vi.waitFor(async () => expect(await timedOut.deadLetters()).toHaveLength(1))
    const closing = createFetchHandler({
      secret: SECRET,
      logger: quiet,
      schemas: { 'order.completed': slow },
      on: { 'order.completed': () => void started.push('after close') },
    })
    await deliver(closing, { a: 2 })
    await sleep(20)
    await closing.close({ timeoutMs: 20 })
    await sleep(250)
    expect(started).toEqual([])
    await timedOut.close()
  })

  it('several handlers of a type: each is checked and fails on its own; a failure beside a retryable one is checked again on the retry', async () => {
    const caught: WebhookHandlerError[] = []
    let flakyRuns = 0
    const handle = createFetchHandler({
      secret: SECRET,
      logger: quiet,
      retry: { maxAttempts: 2, minDelayMs: 5, maxDelayMs: 5, jitter: false },
      schemas: { 'order.completed': zodOrder },
      on: { 'order.completed': [() => {}, () => {}] },
      onEvent: () => {
        if (++flakyRuns < 9) throw new Error('flaky')
      },
      onError: (error) => void caught.push(error),
    })
    await deliver(handle, { amount: 'x' })
    await vi.waitFor(() => expect(caught).toHaveLength(3))
    expect(caught.map((e) => [e.handler, e.attempts, e instanceof WebhookValidationError])).toEqual([
      ['order.completed', 2, true],
      ['order.completed#2', 2, true],
      ['onEvent', 2, false],
    ])
    await handle.close()
  })

  it('refuses what is not a Standard Schema at construction, and warns about a schema no handler uses', () => {
    expect(() => createFetchHandler({ secret: SECRET, logger: quiet, schemas: { 'order.completed': {} as StandardSchemaV1 } })).toThrow(
      /schemas\["order.completed"\] is not a Standard Schema \(v1\) validator/,
    )
    const warn = vi.fn()
    createFetchHandler({ secret: SECRET, logger: { ...quiet, warn }, schemas: { 'order.refunded': zodOrder }, onEvent: () => {} })
    expect(warn).toHaveBeenCalledWith({ type: 'order.refunded' }, expect.stringMatching(/schemas\["order.refunded"\] has no handler in "on"/))
  })

  it("infers a handler's event data from its schema's output", () => {
    createFetchHandler({
      secret: SECRET,
      schemas: { 'order.completed': z.object({ amount: z.coerce.number(), note: z.string().optional() }) },
      on: {
        'order.completed': (event) => {
          expectTypeOf(event.data).toEqualTypeOf<{ amount: number; note?: string | undefined }>()
          expectTypeOf(event.type).toEqualTypeOf<'order.completed'>()
        },
        'order.refunded': (event) => {
          // No schema: the built-in payload type.
          expectTypeOf(event.data.customer.email).toEqualTypeOf<string>()
        },
      },
    })
  })
})

describe('test mode', () => {
  it('event.testMode reads testMode, test_mode, livemode and live_mode', async () => {
    const seen: boolean[] = []
    const handle = createFetchHandler({ secret: SECRET, logger: quiet, onEvent: (event) => void seen.push(event.testMode) })
    for (const overrides of [
      { testMode: true, livemode: undefined },
      { testMode: undefined, livemode: false },
      { testMode: undefined, livemode: undefined, test_mode: true },
      { testMode: undefined, livemode: undefined, live_mode: false },
      { testMode: false, livemode: true },
      { testMode: undefined, livemode: undefined },
      { testMode: 'true', livemode: 'false' }, // not booleans: not a test-mode signal
    ]) {
      await deliver(handle, overrides)
    }
    await vi.waitFor(() => expect(seen).toHaveLength(7))
    expect(seen).toEqual([true, true, true, true, false, false, false])
    await handle.close()
  })

  it("testMode: 'ignore' acknowledges test events without claiming or handling them, logs them at info and tells the hook", async () => {
    const handled: string[] = []
    const ignored: string[] = []
    const info = vi.fn()
    const handle = createFetchHandler({
      secret: SECRET,
      logger: { ...quiet, info },
      testMode: 'ignore',
      on: { 'order.completed': (event) => void handled.push(event.data.customer.email) },
      hooks: { ignored: (event, { reason }) => void ignored.push(`${event.id.slice(0, 4)} ${reason}`), accepted: () => void handled.push('accepted hook') },
    })
    const test = { testMode: true, livemode: false, customer: { email: 'test@example.com' } }
    expect(await deliver(handle, test)).toEqual({ status: 200, body: { received: true } })
    expect(await deliver(handle, { testMode: false, livemode: true, customer: { email: 'live@example.com' } })).toEqual({ status: 200, body: { received: true } })
    await vi.waitFor(() => expect(handled).toEqual(['accepted hook', 'live@example.com']))
    await sleep(20)
    expect(handled).toEqual(['accepted hook', 'live@example.com'])
    expect(ignored).toHaveLength(1)
    expect(ignored[0]).toMatch(/ test_mode$/)
    expect(info).toHaveBeenCalledWith(expect.objectContaining({ type: 'order.completed' }), expect.stringMatching(/test-mode webhook event acknowledged and ignored/))
    await handle.close()
  })

  it("refuses a testMode other than 'handle' or 'ignore'", () => {
    expect(() => createFetchHandler({ secret: SECRET, testMode: 'skip' as 'ignore' })).toThrow(/"testMode" must be 'handle' or 'ignore', got "skip"/)
  })
})
