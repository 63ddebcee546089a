// Two registrations (two senders) and durable inboxes: an inbox's workers run whatever its queue
// holds with the handlers they were started with, so two registrations on one queue would each run
// the other's events, after a 200. The core refuses that at start-up within a process (the same
// inbox object twice, or two inboxes on one queue); an inbox per registration, on its own queue,
// keeps each route's events with its own handlers. Needs Redis at REDIS_URL, like packages/redis.
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { bullmqInbox } from '../../redis/src/index.js'
import { removeKeys, REDIS_URL, uniqueName } from '../../redis/test/helpers.js'
import { pocketsflowWebhook, type PocketsflowWebhookOptions } from '../src/index.js'

const PF_SECRET = 'whsec_fastify_shared_inbox_pocketsflow'
const PB_SECRET = 'whsec_fastify_shared_inbox_pocketbook'
const quiet = { debug() {}, info() {}, warn() {}, error() {} }

const cleanups: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

type Inbox = ReturnType<typeof bullmqInbox>

/** An app with a Pocketsflow route and a Pocketbook route, each with the inbox given. */
async function twoSenders(pocketsflowInbox: Inbox, pocketbookInbox: Inbox, seen: string[]): Promise<FastifyInstance> {
  const app = Fastify()
  cleanups.push(() => app.close())
  await app.register(pocketsflowWebhook, {
    secret: PF_SECRET,
    logger: quiet,
    inbox: pocketsflowInbox,
    onEvent: (event) => void seen.push(`pocketsflow handler: ${event.provider} ${event.type}`),
  })
  await app.register<PocketsflowWebhookOptions<'pocketbook'>>(pocketsflowWebhook, {
    provider: 'pocketbook',
    path: '/webhooks/pocketbook',
    secret: PB_SECRET,
    logger: quiet,
    inbox: pocketbookInbox,
    onEvent: (event) => void seen.push(`pocketbook handler: ${event.provider} ${event.type}`),
  })
  return app
}

function inbox(queueName: string, prefix: string): Inbox {
  cleanups.push(() => removeKeys(prefix))
  return bullmqInbox({ connection: { url: REDIS_URL }, queueName, prefix, logger: false })
}

describe('two registrations and durable inboxes', () => {
  it('refuses one inbox given to both at start-up, naming the fix', async () => {
    const name = uniqueName('fastify_same_inbox')
    const shared = inbox(name, name)
    const app = await twoSenders(shared, shared, []).catch((error: unknown) => error)
    const failure = app instanceof Error ? app : await (app as FastifyInstance).ready().then(() => undefined, (error: unknown) => error)
    expect(String(failure)).toMatch(/already runs the handlers of another receiver[\s\S]*its own queue \(queueName\)/)
  })

  it('refuses two inboxes on one queue at start-up, naming both receivers', async () => {
    const name = uniqueName('fastify_same_queue')
    const app = await twoSenders(inbox(name, name), inbox(name, name), []).catch((error: unknown) => error)
    const failure = app instanceof Error ? app : await (app as FastifyInstance).ready().then(() => undefined, (error: unknown) => error)
    expect(String(failure)).toMatch(/already consumed in this process by the pocketsflow receiver on \/webhooks\/pocketsflow[\s\S]*pocketbook receiver on \/webhooks\/pocketbook/)
  })

  it('runs each route’s events with its own handlers, given an inbox per registration on its own queue', async () => {
    const prefix = uniqueName('fastify_own_queues')
    const seen: string[] = []
    const app = await twoSenders(inbox('pocketsflow', prefix), inbox('pocketbook', prefix), seen)
    await app.ready()
    for (let i = 0; i < 10; i++) {
      const pb = await signedRequest({ provider: 'pocketbook', secret: PB_SECRET, type: 'voucher.minted' })
      expect((await app.inject({ method: 'POST', url: '/webhooks/pocketbook', headers: pb.headers, payload: pb.body })).statusCode).toBe(200)
      const pf = await signedRequest({ secret: PF_SECRET, type: 'order.completed' })
      expect((await app.inject({ method: 'POST', url: '/webhooks/pocketsflow', headers: pf.headers, payload: pf.body })).statusCode).toBe(200)
    }
    await vi.waitFor(() => expect(seen).toHaveLength(20), { timeout: 10_000 })
    expect(seen.filter((line) => line === 'pocketbook handler: pocketbook voucher.minted')).toHaveLength(10)
    expect(seen.filter((line) => line === 'pocketsflow handler: pocketsflow order.completed')).toHaveLength(10)
  })
})
