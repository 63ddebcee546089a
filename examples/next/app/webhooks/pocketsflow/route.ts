// App Router, Node.js runtime: POST /webhooks/pocketsflow
import { pocketsflowWebhook } from '@pocketsflow-webhooks/next'
import { recordEffect } from '../../../lib/effects'
import { handlers } from '../../../lib/handlers'

export const POST = pocketsflowWebhook({
  secret: process.env.POCKETSFLOW_WEBHOOK_SECRET,
  ...handlers('app', recordEffect),
})

// Optional: without these, Next.js answers other methods 405 itself, without an `Allow` header.
export { POST as GET, POST as PUT, POST as PATCH, POST as DELETE }
