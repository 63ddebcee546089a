// The web process: verifies each delivery, stores it in PostgreSQL, answers 200. No handlers here,
// so nothing else runs in this process: a deploy or a crash can't lose an acknowledged event.
import express from 'express'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/express'
import { openInbox } from './inbox.mjs'

const webhook = pocketsflowWebhook({ secret: process.env.POCKETSFLOW_WEBHOOK_SECRET, inbox: openInbox() })
const app = express()
app.use(webhook)

const server = app.listen(Number(process.env.PORT ?? 3000), () => {
  console.log(`listening on http://localhost:${server.address().port}/webhooks/pocketsflow`)
})

process.on('SIGTERM', async () => {
  server.close()
  await webhook.close({ timeoutMs: 5000 })
  console.log('web: stopped')
  process.exit(0)
})
