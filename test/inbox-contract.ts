// The exactly-once contract every durable inbox honours, run by each engine's own test file against
// its real server, through a real HTTP receiver (Express): a handler that succeeded never runs again
// (after a retry, a replay or a re-send of a dead letter), several handlers per type are recorded on
// their own, attempts never overlap, and authentic deliveries are stored whatever their shape.
import { describe, expect, it, vi } from 'vitest'
import {
  signWebhook,
  startInboxWorker,
  WebhookValidationError,
  type HandlerContext,
  type HookSource,
  type StandardSchemaV1,
  type Provider,
  type WebhookEvent,
  type WebhookInbox,
  type WebhookReceiver,
  type WebhookReceiverOptions,
} from '@pocketsflow-webhooks/core'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'

export interface ContractApp {
  readonly url: string
  readonly webhook: { readonly receiver: WebhookReceiver }
}

export interface InboxEngine {
  /** A fresh inbox (own queue or table, removed after the test), polling or retrying quickly. */
  inbox(label: string): WebhookInbox
  /** Another inbox on the same queue or table, for a worker process of its own (closed after the test). */
  twin(inbox: WebhookInbox): WebhookInbox
  /** An Express app with the adapter and these options, closed after the test. */
  start(options: Partial<WebhookReceiverOptions<Provider>> & { secret: string }): Promise<ContractApp>
}

const SECRET = 'whsec_inbox_contract_secret'
const quick = { minDelayMs: 10, maxDelayMs: 20, jitter: false }
const quiet = { debug() {}, info() {}, warn() {}, error() {} }
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * A Standard Schema for order.completed that needs an `amount`, unless `accepting()` says the
 * schema was fixed. Asynchronous, as a validator that looks something up would be.
 */
function orderSchema(accepting: () => boolean): StandardSchemaV1<unknown, { amount?: number }> {
  return {
    '~standard': {
      version: 1,
      vendor: 'contract',
      validate: async (value) => {
        await sleep(1)
        const amount = (value as { amount?: unknown }).amount
        if (accepting() || typeof amount === 'number') return { value: value as { amount?: number } }
        return { issues: [{ message: 'Required number', path: [{ key: 'amount' }] }] }
      },
    },
  }
}

async function post(url: string, req: { headers: Record<string, string>; body: string }) {
  const res = await fetch(url, { method: 'POST', headers: req.headers, body: req.body })
  return { status: res.status, body: (await res.json()) as unknown }
}

export function describeInboxContract(name: string, engine: InboxEngine): void {
  describe(`${name}: exactly once`, () => {
    it('a handler that succeeded is not run again when another handler of the event is retried', async () => {
      const runs = { typed: 0, onEvent: 0 }
      const app = await engine.start({
        secret: SECRET,
        logger: quiet,
        retry: { ...quick, maxAttempts: 3 },
        inbox: engine.inbox('retry_skips'),
        on: {
          'order.completed': () => {
            if (++runs.typed < 3) throw new Error('fulfilment down')
          },
        },
        onEvent: () => void runs.onEvent++,
      })
      expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
      await vi.waitFor(() => expect(runs.typed).toBe(3), { timeout: 10_000 })
      await sleep(200)
      expect(runs).toEqual({ typed: 3, onEvent: 1 })
      expect(await app.webhook.receiver.deadLetters()).toEqual([])
    })

    it('a replay, and a re-send, of a dead letter run only the handlers that failed', async () => {
      const runs = { grant: 0, email: 0 }
      let emailWorks = false
      const app = await engine.start({
        secret: SECRET,
        logger: quiet,
        retry: { ...quick, maxAttempts: 2 },
        inbox: engine.inbox('replay_skips'),
        on: {
          'order.completed': [
            () => void runs.grant++,
            () => {
              runs.email++
              if (!emailWorks) throw new Error('smtp down')
            },
          ],
        },
      })
      const receiver = app.webhook.receiver
      const first = await signedRequest({ secret: SECRET, type: 'order.completed' })
      const second = await signedRequest({ secret: SECRET, type: 'order.completed' })
      for (const req of [first, second]) expect((await post(app.url, req)).status).toBe(200)
      await vi.waitFor(async () => expect(await receiver.deadLetters()).toHaveLength(2), { timeout: 10_000 })
      expect(runs).toEqual({ grant: 2, email: 4 })
      const letters = await receiver.deadLetters()
      expect(letters.map((l) => l.completedHandlers)).toEqual([['order.completed'], ['order.completed']])

      emailWorks = true
      // One is replayed, the other re-sent by the sender (the same signed bytes).
      const replayed = letters.find((l) => l.event.data !== null && JSON.stringify(l.event.payload) === JSON.stringify(JSON.parse(first.body)))
      expect(await receiver.replay(replayed?.id as string)).toBe(true)
      expect((await post(app.url, second)).body).toEqual({ received: true })
      await vi.waitFor(() => expect(runs.email).toBe(6), { timeout: 10_000 })
      await vi.waitFor(async () => expect(await receiver.deadLetters()).toEqual([]), { timeout: 10_000 })
      await sleep(200)
      expect(runs).toEqual({ grant: 2, email: 6 })
      // Done now: the same bytes again are a duplicate.
      expect((await post(app.url, second)).body).toEqual({ received: true, duplicate: true })
    })

    it('two attempts of a handler never overlap, even when it ignores its signal past the time limit', async () => {
      let running = 0
      let most = 0
      let calls = 0
      const app = await engine.start({
        secret: SECRET,
        logger: quiet,
        handlerTimeoutMs: 50,
        retry: { ...quick, maxAttempts: 3 },
        inbox: engine.inbox('no_overlap'),
        on: {
          'order.completed': async (_event: WebhookEvent, ctx: HandlerContext) => {
            calls++
            running++
            most = Math.max(most, running)
            await sleep(400) // ignores ctx.signal
            running--
            expect(ctx.signal.aborted).toBe(true)
          },
        },
      })
      expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
      await vi.waitFor(() => expect(calls).toBe(1), { timeout: 10_000 })
      await sleep(1000)
      expect({ calls, most }).toEqual({ calls: 1, most: 1 })
      expect(await app.webhook.receiver.deadLetters()).toEqual([])
    })

    it('stores authentic deliveries whatever their shape: untyped, nested 100,000 levels deep', async () => {
      const seen: { type: string; depth: number }[] = []
      const app = await engine.start({
        secret: SECRET,
        logger: quiet,
        inbox: engine.inbox('shapes'),
        onEvent: (event) => {
          let depth = 0
          const nested = event.type === 'unknown' ? event.data : (event.data as { items?: unknown }).items
          for (let node = nested; Array.isArray(node); node = node[0]) depth++
          seen.push({ type: event.type, depth })
        },
      })
      const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`
      // Typed, the nesting inside a field (re-serializing it overflowed the stack: 503 on every try).
      const typed = `{"event":"order.completed","items":${deep}}`
      expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed', body: typed }))).status).toBe(200)
      await vi.waitFor(() => expect(seen).toHaveLength(1), { timeout: 10_000 })
      // Untyped: no type header, and the body itself is the nesting.
      const untyped = await signedRequest({ secret: SECRET, type: 'order.completed', body: deep })
      const headers = { ...untyped.headers }
      delete headers['X-Pocketsflow-Event']
      expect((await post(app.url, { headers, body: deep })).status).toBe(200)
      await vi.waitFor(() => expect(seen).toHaveLength(2), { timeout: 10_000 })
      expect(seen).toEqual([
        { type: 'order.completed', depth: 100_000 },
        { type: 'unknown', depth: 100_000 },
      ])
    })

    it('stores an event whose id no column or job id could hold (Pocketbook id with U+0000)', async () => {
      const seen: string[] = []
      const app = await engine.start({
        secret: SECRET,
        provider: 'pocketbook',
        logger: quiet,
        inbox: engine.inbox('nul_id'),
        onEvent: (event) => void seen.push((event.payload as { id: string }).id),
      })
      const body = JSON.stringify({ id: 'evt_\u0000_nul', type: 'voucher.minted\u0000', created: 1, data: {} })
      const req = { headers: await signWebhook({ provider: 'pocketbook', secret: SECRET, body }), body }
      expect((await post(app.url, req)).status).toBe(200)
      expect((await post(app.url, req)).body).toEqual({ received: true, duplicate: true })
      await vi.waitFor(() => expect(seen).toEqual(['evt_\u0000_nul']), { timeout: 10_000 })
    })

    it('stores an event whose type no key could hold (an unpaired surrogate), and tells its duplicate apart from another type', async () => {
      const seen: string[] = []
      const duplicates: (string | undefined)[] = []
      const app = await engine.start({
        secret: SECRET,
        logger: quiet,
        inbox: engine.inbox('surrogate_type'),
        onEvent: (event) => void seen.push(event.type),
        hooks: { duplicate: (_event, info) => void duplicates.push(info.firstType) },
      })
      const body = JSON.stringify({ event: 'order.completed\ud800', n: Math.random() })
      const req = { headers: await signWebhook({ secret: SECRET, body }), body }
      expect((await post(app.url, req)).status).toBe(200)
      expect((await post(app.url, req)).body).toEqual({ received: true, duplicate: true })
      expect(duplicates).toEqual(['order.completed\ud800'])
      await vi.waitFor(() => expect(seen).toEqual(['order.completed\ud800']), { timeout: 10_000 })
    })

    it('reports a failure to onError only once its dead letter is stored', async () => {
      const listedAtReport: boolean[] = []
      let receiver: WebhookReceiver | undefined
      const app = await engine.start({
        secret: SECRET,
        logger: quiet,
        retry: false,
        inbox: engine.inbox('store_then_report'),
        on: { 'order.completed': () => Promise.reject(new Error('fulfilment refused')) },
        onError: async (error) => {
          const letters = await (receiver as WebhookReceiver).deadLetters()
          listedAtReport.push(letters.some((l) => l.id === error.event.id && l.lastError === 'fulfilment refused'))
        },
      })
      receiver = app.webhook.receiver
      expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
      await vi.waitFor(() => expect(listedAtReport).toEqual([true]), { timeout: 10_000 })
    })

    it('a replay while a re-send of the dead letter waits to run keeps what the re-send needs: a handler that succeeded still runs once', async () => {
      const inbox = engine.inbox('replay_vs_resend')
      const runs: string[] = []
      let broken = true
      const handlers = {
        'order.completed': [
          () => void runs.push('A'),
          () => {
            runs.push('B')
            if (broken) throw new Error('B down')
          },
        ],
      }
      const web = await engine.start({ secret: SECRET, logger: quiet, inbox })
      const first = startInboxWorker({ inbox: engine.twin(inbox), logger: quiet, retry: false, on: handlers })
      const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
      expect((await post(web.url, req)).status).toBe(200)
      await vi.waitFor(async () => expect(await web.webhook.receiver.deadLetters()).toHaveLength(1), { timeout: 10_000 })
      await first.close({ timeoutMs: 1000 })
      const [letter] = await web.webhook.receiver.deadLetters()
      // Re-sent while no worker runs (a deploy), then replayed by an operator.
      expect((await post(web.url, req)).body).toEqual({ received: true })
      await web.webhook.receiver.replay(letter?.id as string)
      broken = false
      const second = startInboxWorker({ inbox: engine.twin(inbox), logger: quiet, retry: false, on: handlers })
      try {
        await vi.waitFor(() => expect(runs).toEqual(['A', 'B', 'B']), { timeout: 10_000 })
        await vi.waitFor(async () => expect(await web.webhook.receiver.deadLetters()).toEqual([]), { timeout: 10_000 })
        await sleep(300)
        expect(runs).toEqual(['A', 'B', 'B'])
      } finally {
        await second.close({ timeoutMs: 1000 })
      }
    })

    it('a re-send of a dead letter under another type header runs as the type it was first recorded under', async () => {
      const runs: string[] = []
      let broken = true
      const app = await engine.start({
        secret: SECRET,
        logger: quiet,
        retry: false,
        inbox: engine.inbox('dead_other_type'),
        on: {
          'order.completed': [() => void runs.push('completed A'), () => (runs.push('completed B'), broken ? Promise.reject(new Error('x')) : undefined)],
          'order.refunded': () => void runs.push('refunded'),
        },
      })
      const body = JSON.stringify({ customer: { email: 'a@example.com' }, n: Math.random() })
      const as = async (type: string) => ({ headers: await signWebhook({ secret: SECRET, body, type }), body })
      expect((await post(app.url, await as('order.completed'))).status).toBe(200)
      await vi.waitFor(async () => expect(await app.webhook.receiver.deadLetters()).toHaveLength(1), { timeout: 10_000 })
      broken = false
      expect((await post(app.url, await as('order.refunded'))).status).toBe(200)
      await vi.waitFor(() => expect(runs).toEqual(['completed A', 'completed B', 'completed B']), { timeout: 10_000 })
      await sleep(200)
      expect(runs).toEqual(['completed A', 'completed B', 'completed B'])
    })

    it('tells a duplicate under another type from a plain one (the type header is not signed)', async () => {
      const duplicates: [string, string | undefined][] = []
      const app = await engine.start({
        secret: SECRET,
        logger: quiet,
        inbox: engine.inbox('dup_type'),
        hooks: { duplicate: (event, info) => void duplicates.push([event.type, info.firstType]) },
      })
      const body = JSON.stringify({ customer: { email: 'a@example.com' }, n: Math.random() })
      const as = async (type: string) => ({ headers: await signWebhook({ secret: SECRET, body, type }), body })
      expect((await post(app.url, await as('order.completed'))).status).toBe(200)
      expect((await post(app.url, await as('order.completed'))).body).toEqual({ received: true, duplicate: true })
      expect((await post(app.url, await as('order.refunded'))).body).toEqual({ received: true, duplicate: true })
      expect(duplicates).toEqual([
        ['order.completed', 'order.completed'],
        ['order.refunded', 'order.completed'],
      ])
    })

    it('a payload that fails its schema: acknowledged, its handler never runs, not retried, onError gets a WebhookValidationError, a dead letter that a replay after the fix runs once', async () => {
      const runs = { typed: 0, onEvent: 0 }
      const errors: unknown[] = []
      let fixed = false
      const app = await engine.start({
        secret: SECRET,
        logger: quiet,
        retry: { ...quick, maxAttempts: 3 },
        inbox: engine.inbox('schema_dead_letter'),
        schemas: { 'order.completed': orderSchema(() => fixed) },
        on: { 'order.completed': () => void runs.typed++ },
        onEvent: () => void runs.onEvent++,
        onError: (error) => void errors.push(error),
      })
      const receiver = app.webhook.receiver
      const bad = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { amount: 'lots' } })
      expect((await post(app.url, bad)).body).toEqual({ received: true })
      await vi.waitFor(async () => expect(await receiver.deadLetters()).toHaveLength(1), { timeout: 10_000 })
      await vi.waitFor(() => expect(errors).toHaveLength(1), { timeout: 10_000 })
      const [letter] = await receiver.deadLetters()
      // One attempt: another would check the same payload against the same schema.
      expect(letter?.attempts).toBe(1)
      expect(letter?.lastError).toMatch(/failed its schema at amount, so order\.completed did not run/)
      expect(letter?.completedHandlers).toEqual(['onEvent'])
      const error = errors[0] as WebhookValidationError
      expect(error).toBeInstanceOf(WebhookValidationError)
      expect(error.issues).toEqual([{ message: 'Required number', path: ['amount'] }])
      expect(error.type).toBe('order.completed')
      expect(runs).toEqual({ typed: 0, onEvent: 1 })

      // A valid payload of the same type runs as usual.
      expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { amount: 12 } }))).status).toBe(200)
      await vi.waitFor(() => expect(runs).toEqual({ typed: 1, onEvent: 2 }), { timeout: 10_000 })

      fixed = true
      expect(await receiver.replay(letter?.id as string)).toBe(true)
      await vi.waitFor(() => expect(runs.typed).toBe(2), { timeout: 10_000 })
      await vi.waitFor(async () => expect(await receiver.deadLetters()).toEqual([]), { timeout: 10_000 })
      await sleep(200)
      expect(runs).toEqual({ typed: 2, onEvent: 2 })
      expect(errors).toHaveLength(1)
    })

    it("testMode: 'ignore' acknowledges test-mode events and never stores or runs them; live ones go through", async () => {
      const handled: boolean[] = []
      const ignored: string[] = []
      const app = await engine.start({
        secret: SECRET,
        logger: quiet,
        inbox: engine.inbox('test_mode_ignore'),
        testMode: 'ignore',
        onEvent: (event) => void handled.push(event.testMode),
        hooks: { ignored: (event, info) => void ignored.push(`${event.type}:${info.reason}`) },
      })
      const test = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { testMode: true, livemode: false } })
      expect((await post(app.url, test)).body).toEqual({ received: true })
      // Not recorded: the same bytes again are not a duplicate either.
      expect((await post(app.url, test)).body).toEqual({ received: true })
      const live = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { testMode: false, livemode: true } })
      expect((await post(app.url, live)).body).toEqual({ received: true })
      await vi.waitFor(() => expect(handled).toEqual([false]), { timeout: 10_000 })
      await sleep(200)
      expect(handled).toEqual([false])
      expect(ignored).toEqual(['order.completed:test_mode', 'order.completed:test_mode'])
      expect(await app.webhook.receiver.deadLetters()).toEqual([])
    })

    it('depth() counts waiting events and dead letters for the observe hook; deadLettered and attempted reach the hooks', async () => {
      let source: HookSource | undefined
      const deadLettered: string[] = []
      const attempted: string[] = []
      let release!: () => void
      const gate = new Promise<void>((resolve) => (release = resolve))
      const app = await engine.start({
        secret: SECRET,
        logger: quiet,
        retry: false,
        concurrency: 1,
        inbox: engine.inbox('depth_hooks'),
        on: {
          'order.completed': async () => {
            await gate
          },
          'order.refunded': () => {
            throw new Error('refund service down')
          },
        },
        // Two hook sets, as a metrics package's would sit beside the app's own.
        hooks: [
          { observe: (s) => void (source = s), deadLettered: (event, info) => void deadLettered.push(`${event.type}:${info.handlers.join(',')}`) },
          { attempted: (event, info) => void attempted.push(`${event.type}:${info.outcome}`) },
        ],
      })
      expect(source?.inboxDepth).toBeTypeOf('function')
      for (let i = 0; i < 3; i++) expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
      // One runs (held at the gate), the others wait: all three are pending.
      await vi.waitFor(async () => expect(await source?.inboxDepth?.()).toEqual({ pending: 3, deadLetters: 0 }), { timeout: 10_000 })
      release()
      expect((await post(app.url, await signedRequest({ secret: SECRET, type: 'order.refunded' }))).status).toBe(200)
      await vi.waitFor(async () => expect(await source?.inboxDepth?.()).toEqual({ pending: 0, deadLetters: 1 }), { timeout: 10_000 })
      await vi.waitFor(() => expect(deadLettered).toEqual(['order.refunded:order.refunded']), { timeout: 10_000 })
      expect(attempted.sort()).toEqual(['order.completed:ok', 'order.completed:ok', 'order.completed:ok', 'order.refunded:failed'])
    })

    it('a web process whose handlers are all undefined only records: the worker gets every event', async () => {
      const inbox = engine.inbox('records_only')
      const handled: string[] = []
      const web = await engine.start({ secret: SECRET, logger: quiet, inbox, on: { 'order.completed': undefined }, onEvent: undefined })
      const worker = startInboxWorker({ inbox: engine.twin(inbox), logger: quiet, onEvent: (event) => void handled.push(event.id) })
      try {
        for (let i = 0; i < 20; i++) expect((await post(web.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
        await vi.waitFor(() => expect(handled).toHaveLength(20), { timeout: 15_000 })
        expect(new Set(handled).size).toBe(20)
      } finally {
        await worker.close({ timeoutMs: 1000 })
      }
    })
  })
}
