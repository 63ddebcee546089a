// Pages Router: POST /api/webhooks/pocketsflow
import { pocketsflowPagesWebhook } from '@pocketsflow-webhooks/next'
import { recordEffect } from '../../../lib/effects'
import { handlers } from '../../../lib/handlers'

// Required: the signature covers the exact bytes, which Next's body parser would consume.
export const config = { api: { bodyParser: false } }

export default pocketsflowPagesWebhook({
  secret: process.env.POCKETSFLOW_WEBHOOK_SECRET,
  ...handlers('pages', recordEffect),
})
