// App Router, Edge runtime: POST /webhooks/pocketsflow-edge. The package resolves to its Web Crypto
// build here (the `edge-light` export condition); nothing from Node.js is loaded.
import { pocketsflowWebhook } from '@pocketsflow-webhooks/next'
import { handlers } from '../../../lib/handlers'

export const runtime = 'edge'

export const POST = pocketsflowWebhook({
  secret: process.env.POCKETSFLOW_WEBHOOK_SECRET,
  // No file system on the Edge: the handlers report to the app's Node.js side (demo only).
  ...handlers('edge', async (effect) => {
    const res = await fetch(new URL('/api/effects', process.env.EFFECTS_URL ?? 'http://127.0.0.1:3000'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(effect),
    })
    if (!res.ok) throw new Error(`recording the effect failed: ${res.status}`)
  }),
})
