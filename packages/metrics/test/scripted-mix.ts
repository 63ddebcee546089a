// The scripted mix every exporter test plays through a real Express app: accepted, duplicate, a
// forgery, a stale delivery, an ignored test-mode event, a handler failing once then succeeding,
// and one failing for good. What each exporter must then show is in EXPECTED.
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { vi } from 'vitest'
import type { ReceiverHooks } from '@pocketsflow-webhooks/core'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/express'

export const SECRET = 'whsec_metrics_test'
const quiet = { debug() {}, info() {}, warn() {}, error() {} }
const live = { testMode: false, livemode: true }

export interface MixApp {
  readonly url: string
  close(): Promise<void>
}

export async function startApp(hooks: ReceiverHooks | ReceiverHooks[], port = 0): Promise<MixApp & { app: express.Express }> {
  let refundRuns = 0
  const webhook = pocketsflowWebhook({
    secret: SECRET,
    logger: quiet,
    testMode: 'ignore',
    retry: { maxAttempts: 2, minDelayMs: 5, maxDelayMs: 5, jitter: false },
    on: {
      'order.completed': () => {},
      // Fails once, then succeeds.
      'order.refunded': () => {
        if (++refundRuns === 1) throw new Error('refund service down')
      },
      // Fails for good.
      'customer.subscription.deleted': () => {
        throw new Error('billing down')
      },
    },
    hooks,
  })
  const app = express()
  app.use(webhook)
  const server = app.listen(port, '127.0.0.1')
  await once(server, 'listening')
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/pocketsflow`
  return {
    app,
    url,
    close: async () => {
      server.close()
      await webhook.close()
    },
  }
}

/** Plays the mix; resolves once every handler has settled. */
export async function playMix(url: string): Promise<void> {
  const post = async (req: { headers: Record<string, string>; body: string }) => (await fetch(url, { method: 'POST', headers: req.headers, body: req.body })).status
  const order = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: live })
  await post(order) // accepted
  await post(order) // duplicate
  await post({ ...order, body: order.body.replace('"order.completed"', '"order.completed" ') }) // 401 signature_mismatch
  await post(await signedRequest({ secret: SECRET, type: 'order.completed', timestamp: Date.now() - 3_600_000, overrides: live })) // 401 timestamp_too_old
  await post(await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { testMode: true } })) // ignored
  await post(await signedRequest({ secret: SECRET, type: 'order.refunded', overrides: live })) // fails once, then ok
  await post(await signedRequest({ secret: SECRET, type: 'customer.subscription.deleted', overrides: live })) // dead letter
  await post(await signedRequest({ secret: SECRET, type: 'brand.new.event', overrides: live })) // accepted, no typed handler: type "other"
  // Handlers run after the 200s: wait for the last retry to settle.
  await new Promise((resolve) => setTimeout(resolve, 100))
  await vi.waitFor(() => undefined)
}

/** What the mix must show, whatever the exporter. */
export const EXPECTED = {
  deliveries: { accepted: 4, duplicate: 1, ignored: 1, rejected: { signature_mismatch: 1, timestamp_too_old: 1 } },
  /** handler attempts by type and outcome */
  attempts: {
    'order.completed': { ok: 1 },
    'order.refunded': { failed: 1, ok: 1 },
    'customer.subscription.deleted': { failed: 2 },
  },
  deadLetters: { 'customer.subscription.deleted': 1 },
  /** requests the receiver answered (every one of the mix) */
  answered: 8,
} as const
