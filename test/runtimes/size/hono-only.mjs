// Baseline: the same Hono Worker without the webhook middleware, to tell Hono's share from ours.
import { Hono } from 'hono'

const app = new Hono()
app.post('/webhooks/pocketsflow', async (c) => c.json({ received: true }))

export default app
