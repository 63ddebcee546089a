// A small Express app receiving Pocketsflow webhooks. server.mjs runs it; demo.mjs drives it.
import express from 'express'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/express'

/**
 * @param {{ secret: string | undefined, log?: (line: string) => void, logger?: object, hooks?: object }} options
 */
export function createApp({ secret, log = console.log, logger, hooks } = {}) {
  const webhook = pocketsflowWebhook({
    secret, // POCKETSFLOW_WEBHOOK_SECRET: the signing secret from the Pocketsflow dashboard
    on: {
      'order.completed': async (event) => log(`grant access to ${event.data.customer.email} for ${event.data.product.id}`),
      'order.refunded': async (event) => log(`revoke access of ${event.data.customer.email} (refund ${event.data.refund.id})`),
      'customer.subscription.created': async (event) => log(`start membership of ${event.data.customer.email}`),
      'customer.subscription.resumed': async (event) => log(`resume membership of ${event.data.customer.email}`),
      // also runs for deliveries spelled customer.subscription.pause
      'customer.subscription.paused': async (event) => log(`pause membership of ${event.data.customer.email}`),
      'customer.subscription.deleted': async (event) => log(`end membership of ${event.data.customer.email}`),
      'invoice.payment_failed': async (event) => log(`ask ${event.data.customer.email} to update their card`),
    },
    onEvent: async (event) => log(`recorded ${event.type}`),
    onError: (error) => log(`FAILED ${error.event.type} after ${error.attempts} attempts: ${error.cause}`),
    logger, // default: warnings and errors to the console; pass pino() or similar in production
    hooks,
  })

  const app = express()
  app.use(webhook) // before any body parser: it reads the raw bytes itself
  app.use(express.json())
  app.get('/health', (_req, res) => res.json({ ok: true }))
  return { app, webhook }
}
