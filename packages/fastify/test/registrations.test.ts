// Several registrations of the plugin: two senders (or two secrets) on two paths of one app, each
// route with its own receiver and options, and the decorator that reaches each of them.
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { MemoryDedupeStore, pocketsflowWebhook, type PocketsflowWebhookOptions, type WebhookReceiver } from '../src/index.js'

const PF_SECRET = 'whsec_fastify_registrations_pocketsflow'
const PB_SECRET = 'whsec_fastify_registrations_pocketbook'
const PF_PATH = '/webhooks/pocketsflow'
const PB_PATH = '/webhooks/pocketbook'

const quiet = { debug() {}, info() {}, warn() {}, error() {} }

type Delivery = { headers: Record<string, string | undefined>; body: string }

function post(app: FastifyInstance, req: Delivery, url: string) {
  return app.inject({ method: 'POST', url, headers: req.headers, payload: req.body })
}

function gate() {
  let release: () => void = () => {}
  const promise = new Promise<void>((resolve) => (release = resolve))
  return { promise, release }
}

const pocketsflowDelivery = (secret = PF_SECRET) => signedRequest({ secret, type: 'order.completed', overrides: { customer: { email: 'buyer@example.com' } } })
const pocketbookDelivery = (secret = PB_SECRET) => signedRequest({ provider: 'pocketbook', secret, type: 'voucher.minted' })

/** Pocketsflow on its default path and Pocketbook on another, registered side by side on the app itself. */
async function twoSenders(pocketsflow: Partial<PocketsflowWebhookOptions> = {}, pocketbook: Partial<PocketsflowWebhookOptions<'pocketbook'>> = {}) {
  const seen: string[] = []
  const app = Fastify()
  await app.register(pocketsflowWebhook, {
    secret: PF_SECRET,
    logger: quiet,
    retry: false,
    on: { 'order.completed': (event) => void seen.push(`pocketsflow on: ${event.type} ${event.data.customer.email}`) },
    onEvent: (event) => void seen.push(`pocketsflow onEvent: ${event.type}`),
    ...pocketsflow,
  })
  await app.register<PocketsflowWebhookOptions<'pocketbook'>>(pocketsflowWebhook, {
    provider: 'pocketbook',
    path: PB_PATH,
    secret: PB_SECRET,
    logger: quiet,
    retry: false,
    // Typed for Pocketbook's events, in the same context as the Pocketsflow registration.
    on: { 'voucher.minted': (event) => void seen.push(`pocketbook on: ${event.type} ${typeof event.data.voucherId}`) },
    onEvent: (event) => void seen.push(`pocketbook onEvent: ${event.type}`),
    ...pocketbook,
  })
  return { app, seen }
}

describe('two registrations of pocketsflowWebhook in one context', () => {
  it('start, and each route accepts its own sender and rejects the other with 401 (two providers, two secrets, two paths)', async () => {
    const { app, seen } = await twoSenders()
    await app.ready()
    expect((await post(app, await pocketsflowDelivery(), PF_PATH)).statusCode).toBe(200)
    expect((await post(app, await pocketbookDelivery(), PB_PATH)).statusCode).toBe(200)
    // Each one's delivery on the other's route: the other provider's scheme and secret.
    expect((await post(app, await pocketbookDelivery(), PF_PATH)).statusCode).toBe(401)
    expect((await post(app, await pocketsflowDelivery(), PB_PATH)).statusCode).toBe(401)
    // The right scheme with the other's secret.
    expect((await post(app, await pocketsflowDelivery(PB_SECRET), PF_PATH)).statusCode).toBe(401)
    expect((await post(app, await pocketbookDelivery(PF_SECRET), PB_PATH)).statusCode).toBe(401)
    await vi.waitFor(() => expect(seen).toHaveLength(4))
    await new Promise((r) => setTimeout(r, 20))
    expect(seen.sort()).toEqual([
      'pocketbook on: voucher.minted string',
      'pocketbook onEvent: voucher.minted',
      'pocketsflow on: order.completed buyer@example.com',
      'pocketsflow onEvent: order.completed',
    ])
  })

  it('runs the handlers of each registration only for its own route (one provider, two secrets)', async () => {
    const shop: string[] = []
    const courses: string[] = []
    const app = Fastify()
    await app.register(pocketsflowWebhook, { secret: 'whsec_shop', path: '/shop', logger: quiet, on: { 'order.completed': (event) => void shop.push(event.data.customer.email) } })
    await app.register(pocketsflowWebhook, { secret: 'whsec_courses', path: '/courses', logger: quiet, on: { 'order.completed': (event) => void courses.push(event.data.customer.email) } })
    const toShop = await signedRequest({ secret: 'whsec_shop', type: 'order.completed', overrides: { customer: { email: 'shop@example.com' } } })
    const toCourses = await signedRequest({ secret: 'whsec_courses', type: 'order.completed', overrides: { customer: { email: 'courses@example.com' } } })
    expect((await post(app, toShop, '/shop')).statusCode).toBe(200)
    expect((await post(app, toCourses, '/courses')).statusCode).toBe(200)
    expect((await post(app, toShop, '/courses')).statusCode).toBe(401)
    expect((await post(app, toCourses, '/shop')).statusCode).toBe(401)
    await vi.waitFor(() => expect([...shop, ...courses]).toHaveLength(2))
    await new Promise((r) => setTimeout(r, 20))
    expect(shop).toEqual(['shop@example.com'])
    expect(courses).toEqual(['courses@example.com'])
  })

  it('gives each route its own options: tolerance and bodyLimit, checked before and after the body is read', async () => {
    const { app, seen } = await twoSenders({ tolerance: 60, bodyLimit: 1024 })
    // Two minutes old: stale for the Pocketsflow registration (60 s), fine for Pocketbook's (300 s).
    const twoMinutesAgo = Date.now() - 120_000
    const stale = await post(app, await signedRequest({ secret: PF_SECRET, type: 'order.completed', timestamp: twoMinutesAgo }), PF_PATH)
    expect(stale.statusCode).toBe(401)
    expect(stale.headers['connection']).toBe('close') // answered from the headers alone
    const older = await signedRequest({ provider: 'pocketbook', secret: PB_SECRET, type: 'voucher.minted', timestamp: twoMinutesAgo })
    expect((await post(app, older, PB_PATH)).statusCode).toBe(200)
    // 4 KiB: over the Pocketsflow route's 1 KiB, well under Pocketbook's default 1 MiB.
    const padding = 'x'.repeat(4096)
    expect((await post(app, await signedRequest({ secret: PF_SECRET, type: 'order.completed', overrides: { padding } }), PF_PATH)).statusCode).toBe(413)
    const big = await signedRequest({ provider: 'pocketbook', secret: PB_SECRET, type: 'voucher.minted', overrides: { padding } })
    expect((await post(app, big, PB_PATH)).statusCode).toBe(200)
    expect(app.pocketsflowWebhook.receiverAt(PF_PATH).bodyLimit).toBe(1024)
    expect(app.pocketsflowWebhook.receiverAt(PB_PATH).bodyLimit).toBe(1024 * 1024)
    await vi.waitFor(() => expect(seen.filter((line) => line.startsWith('pocketbook onEvent'))).toHaveLength(2))
    expect(seen.filter((line) => line.startsWith('pocketsflow'))).toEqual([])
  })

  it('dedupes per registration, unless the registrations share a store', async () => {
    const req = await pocketsflowDelivery()
    const separate = Fastify()
    await separate.register(pocketsflowWebhook, { secret: PF_SECRET, path: '/a', logger: quiet })
    await separate.register(pocketsflowWebhook, { secret: PF_SECRET, path: '/b', logger: quiet })
    expect((await post(separate, req, '/a')).json()).toEqual({ received: true })
    expect((await post(separate, req, '/b')).json()).toEqual({ received: true })
    expect((await post(separate, req, '/b')).json()).toEqual({ received: true, duplicate: true })

    const dedupe = new MemoryDedupeStore()
    const shared = Fastify()
    await shared.register(pocketsflowWebhook, { secret: PF_SECRET, path: '/a', logger: quiet, dedupe })
    await shared.register(pocketsflowWebhook, { secret: PF_SECRET, path: '/b', logger: quiet, dedupe })
    expect((await post(shared, req, '/a')).json()).toEqual({ received: true })
    expect((await post(shared, req, '/b')).json()).toEqual({ received: true, duplicate: true })
  })

  it('app.close() waits for the running handlers of every registration', async () => {
    const pocketsflowGate = gate()
    const pocketbookGate = gate()
    const steps: string[] = []
    const { app } = await twoSenders(
      { on: { 'order.completed': () => pocketsflowGate.promise.then(() => void steps.push('pocketsflow handler finished')) }, onEvent: undefined },
      { on: { 'voucher.minted': () => pocketbookGate.promise.then(() => void steps.push('pocketbook handler finished')) }, onEvent: undefined },
    )
    expect((await post(app, await pocketsflowDelivery(), PF_PATH)).statusCode).toBe(200)
    expect((await post(app, await pocketbookDelivery(), PB_PATH)).statusCode).toBe(200)
    const closing = app.close().then(() => void steps.push('app closed'))
    await new Promise((r) => setTimeout(r, 50))
    pocketbookGate.release()
    await new Promise((r) => setTimeout(r, 50))
    expect(steps).toEqual(['pocketbook handler finished'])
    pocketsflowGate.release()
    await closing
    expect(steps).toEqual(['pocketbook handler finished', 'pocketsflow handler finished', 'app closed'])
  })

  it("app.close() drains the registrations side by side, each bounded by its own closeTimeoutMs", async () => {
    const failures: string[] = []
    const slow = gate()
    const steps: string[] = []
    const { app } = await twoSenders(
      {
        closeTimeoutMs: 50,
        // Honours its signal: aborted once this registration's 50 ms are up.
        on: { 'order.completed': (_event, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))) },
        onEvent: undefined,
        onError: (error) => void failures.push(`${error.event.type}: ${(error.cause as Error).name}`),
      },
      { on: { 'voucher.minted': () => slow.promise.then(() => void steps.push('pocketbook handler finished')) }, onEvent: undefined },
    )
    expect((await post(app, await pocketsflowDelivery(), PF_PATH)).statusCode).toBe(200)
    expect((await post(app, await pocketbookDelivery(), PB_PATH)).statusCode).toBe(200)
    const closing = app.close().then(() => void steps.push('app closed'))
    // The Pocketsflow registration gave up after its 50 ms while Pocketbook's (no limit) still waits.
    await vi.waitFor(() => expect(failures).toEqual(['order.completed: WebhookReceiverClosedError']))
    expect(steps).toEqual([])
    slow.release()
    await closing
    expect(steps).toEqual(['pocketbook handler finished', 'app closed'])
  })
})

describe('app.pocketsflowWebhook', () => {
  it('with one registration: receiver, receivers and receiverAt() all give its receiver', async () => {
    const app = Fastify()
    await app.register(pocketsflowWebhook, { secret: PF_SECRET, logger: quiet })
    const { receiver } = app.pocketsflowWebhook
    expect(receiver.path).toBe(PF_PATH)
    expect(app.pocketsflowWebhook.receivers).toEqual([receiver])
    expect(Object.isFrozen(app.pocketsflowWebhook.receivers)).toBe(true)
    expect(app.pocketsflowWebhook.receiverAt(PF_PATH)).toBe(receiver)
    expect(app.pocketsflowWebhook.receiverAt(`${PF_PATH}/`)).toBe(receiver)
    expect(() => app.pocketsflowWebhook.receiverAt('/webhooks/other')).toThrow(
      'pocketsflow-webhooks: no webhook is registered at "/webhooks/other" in this context; registered: "/webhooks/pocketsflow"',
    )
    expect(await receiver.deadLetters()).toEqual([])
  })

  it('with two registrations: receiver throws naming the paths and the alternatives; receivers in order, receiverAt(path) for each', async () => {
    const { app } = await twoSenders()
    expect(() => app.pocketsflowWebhook.receiver).toThrow(
      'pocketsflow-webhooks: app.pocketsflowWebhook.receiver is ambiguous, 2 webhooks are registered in this context ' +
        '("/webhooks/pocketsflow", "/webhooks/pocketbook"); use app.pocketsflowWebhook.receiverAt("/webhooks/pocketbook") or app.pocketsflowWebhook.receivers',
    )
    const [first, second] = app.pocketsflowWebhook.receivers
    expect(app.pocketsflowWebhook.receivers).toHaveLength(2)
    expect([first?.path, first?.provider]).toEqual([PF_PATH, 'pocketsflow'])
    expect([second?.path, second?.provider]).toEqual([PB_PATH, 'pocketbook'])
    expect(app.pocketsflowWebhook.receiverAt(PF_PATH)).toBe(first)
    expect(app.pocketsflowWebhook.receiverAt(PB_PATH)).toBe(second)
    expect(() => app.pocketsflowWebhook.receiverAt('/webhooks/other')).toThrow(/registered: "\/webhooks\/pocketsflow", "\/webhooks\/pocketbook"/)
    // What the app's code sees is the public API only.
    expect(Object.keys(app.pocketsflowWebhook).sort()).toEqual(['close', 'receiver', 'receiverAt', 'receivers'])
    expectTypeOf(app.pocketsflowWebhook.receivers).toEqualTypeOf<readonly WebhookReceiver[]>()
    expectTypeOf(app.pocketsflowWebhook.receiverAt).returns.toEqualTypeOf<WebhookReceiver>()
  })

  it('with two registrations: each receiver keeps its own dead letters, and replay() runs that route\'s handlers', async () => {
    let failPocketbook = true
    const ran: string[] = []
    const { app } = await twoSenders(
      { on: {}, onEvent: () => void ran.push('pocketsflow') },
      {
        on: {
          'voucher.minted': () => {
            ran.push('pocketbook')
            if (failPocketbook) throw new Error('mint service down')
          },
        },
        onEvent: undefined,
        onError: () => {},
      },
    )
    expect((await post(app, await pocketsflowDelivery(), PF_PATH)).statusCode).toBe(200)
    expect((await post(app, await pocketbookDelivery(), PB_PATH)).statusCode).toBe(200)
    const pocketbook = app.pocketsflowWebhook.receiverAt(PB_PATH)
    await vi.waitFor(async () => expect(await pocketbook.deadLetters()).toHaveLength(1))
    expect(await app.pocketsflowWebhook.receiverAt(PF_PATH).deadLetters()).toEqual([])
    const [letter] = await pocketbook.deadLetters()
    failPocketbook = false
    expect(await pocketbook.replay(letter!.id)).toBe(true)
    await vi.waitFor(() => expect(ran.filter((name) => name === 'pocketbook')).toHaveLength(2))
    expect(ran.filter((name) => name === 'pocketsflow')).toHaveLength(1)
  })

  it('close() answers 503 on every route of the context and waits for the handlers of all', async () => {
    const pocketsflowGate = gate()
    const pocketbookGate = gate()
    const { app } = await twoSenders({ on: { 'order.completed': () => pocketsflowGate.promise } }, { on: { 'voucher.minted': () => pocketbookGate.promise } })
    expect((await post(app, await pocketsflowDelivery(), PF_PATH)).statusCode).toBe(200)
    expect((await post(app, await pocketbookDelivery(), PB_PATH)).statusCode).toBe(200)
    let closed = false
    const closing = app.pocketsflowWebhook.close().then(() => (closed = true))
    expect((await post(app, await pocketsflowDelivery(), PF_PATH)).statusCode).toBe(503)
    expect((await post(app, await pocketbookDelivery(), PB_PATH)).statusCode).toBe(503)
    pocketsflowGate.release()
    await new Promise((r) => setTimeout(r, 20))
    expect(closed).toBe(false)
    pocketbookGate.release()
    await closing
    expect(closed).toBe(true)
  })
})

describe('registering the same path twice', () => {
  it('fails app.ready() with an error of ours naming the path, in one context', async () => {
    const app = Fastify()
    app.register(pocketsflowWebhook, { secret: PF_SECRET, logger: quiet })
    // The same path spelled with a trailing slash, which the receiver treats as the same.
    app.register(pocketsflowWebhook, { secret: PB_SECRET, logger: quiet, path: `${PF_PATH}/` })
    await expect(app.ready()).rejects.toThrow(
      'pocketsflow-webhooks: a webhook is already registered at "/webhooks/pocketsflow" in this context; give each registration its own `path`',
    )
  })

  it('fails app.ready() with an error of ours naming the URL, across contexts or against a route of the app', async () => {
    const nested = Fastify()
    nested.register(pocketsflowWebhook, { secret: PF_SECRET, logger: quiet, path: '/hooks/pf' })
    nested.register(async (scope) => void scope.register(pocketsflowWebhook, { secret: PB_SECRET, logger: quiet, path: '/pf' }), { prefix: '/hooks' })
    const error = await nested.ready().then(
      () => undefined,
      (thrown: unknown) => thrown as Error & { cause?: { code?: string } },
    )
    expect(error?.message).toMatch(/^pocketsflow-webhooks: "\/hooks\/pf" already has a route/)
    expect(error?.cause?.code).toBe('FST_ERR_DUPLICATED_ROUTE')

    const taken = Fastify()
    taken.get(PF_PATH, async () => 'the app was here first')
    taken.register(pocketsflowWebhook, { secret: PF_SECRET, logger: quiet })
    await expect(taken.ready()).rejects.toThrow(/^pocketsflow-webhooks: "\/webhooks\/pocketsflow" already has a route/)
  })
})

describe('registrations in child contexts', () => {
  it('keep working, under a prefix, each context with its own decorator, all drained by app.close()', async () => {
    const app = Fastify()
    const steps: string[] = []
    const rootGate = gate()
    const scopedGate = gate()
    let scoped: FastifyInstance | undefined
    await app.register(pocketsflowWebhook, { secret: PF_SECRET, logger: quiet, on: { 'order.completed': () => rootGate.promise.then(() => void steps.push('root')) } })
    await app.register(
      async (scope) => {
        scoped = scope
        await scope.register(pocketsflowWebhook, { secret: PF_SECRET, logger: quiet, path: '/pf', on: { 'order.completed': () => scopedGate.promise.then(() => void steps.push('/v2/pf')) } })
        await scope.register<PocketsflowWebhookOptions<'pocketbook'>>(pocketsflowWebhook, { provider: 'pocketbook', secret: PB_SECRET, logger: quiet, path: '/pb' })
      },
      { prefix: '/v2' },
    )
    for (const url of [PF_PATH, '/v2/pf', '/v2/pf/']) expect((await post(app, await pocketsflowDelivery(), url)).statusCode, url).toBe(200)
    expect((await post(app, await pocketbookDelivery(), '/v2/pb')).statusCode).toBe(200)
    expect((await post(app, await pocketbookDelivery(), '/v2/pf')).statusCode).toBe(401)
    // The app's decorator is its own registration's; the child context's has both of its own.
    expect(app.pocketsflowWebhook.receiver.path).toBe(PF_PATH)
    expect(scoped?.pocketsflowWebhook.receivers.map((receiver) => receiver.path)).toEqual(['/pf', '/pb'])
    expect(scoped?.pocketsflowWebhook.receiverAt('/pb').provider).toBe('pocketbook')
    const closing = app.close().then(() => void steps.push('closed'))
    await new Promise((r) => setTimeout(r, 50))
    expect(steps).toEqual([])
    rootGate.release()
    scopedGate.release()
    await closing
    expect(steps.at(-1)).toBe('closed')
    expect(steps.slice(0, -1).sort()).toEqual(['/v2/pf', '/v2/pf', 'root'])
  })
})

describe('two registrations on a listening server', () => {
  let app: FastifyInstance | undefined
  afterEach(async () => {
    await app?.close()
    app = undefined
  })

  it('accepts each sender on its own route over HTTP, rejects the other, and app.close() waits for both', async () => {
    const pocketsflowGate = gate()
    const pocketbookGate = gate()
    const steps: string[] = []
    const built = await twoSenders(
      { on: { 'order.completed': () => pocketsflowGate.promise.then(() => void steps.push('pocketsflow finished')) }, onEvent: undefined },
      { on: { 'voucher.minted': () => pocketbookGate.promise.then(() => void steps.push('pocketbook finished')) }, onEvent: undefined },
    )
    app = built.app
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    const pocketsflow = await pocketsflowDelivery()
    const pocketbook = await pocketbookDelivery()
    expect((await fetch(`${base}${PF_PATH}`, { method: 'POST', headers: pocketbook.headers, body: pocketbook.body })).status).toBe(401)
    expect((await fetch(`${base}${PB_PATH}`, { method: 'POST', headers: pocketsflow.headers, body: pocketsflow.body })).status).toBe(401)
    const first = await fetch(`${base}${PF_PATH}`, { method: 'POST', headers: pocketsflow.headers, body: pocketsflow.body })
    expect([first.status, await first.json()]).toEqual([200, { received: true }])
    const second = await fetch(`${base}${PB_PATH}`, { method: 'POST', headers: pocketbook.headers, body: pocketbook.body })
    expect([second.status, await second.json()]).toEqual([200, { received: true }])
    const closing = app.close().then(() => void steps.push('closed'))
    app = undefined
    await new Promise((r) => setTimeout(r, 50))
    expect(steps).toEqual([])
    pocketsflowGate.release()
    await new Promise((r) => setTimeout(r, 20))
    expect(steps).toEqual(['pocketsflow finished'])
    pocketbookGate.release()
    await closing
    expect(steps).toEqual(['pocketsflow finished', 'pocketbook finished', 'closed'])
  })
})
