// A Hono Worker with the webhook middleware: Hono itself included.
import { Hono } from 'hono'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/hono'

let webhook
const app = new Hono()
app.post('/webhooks/pocketsflow', (c, next) => {
  webhook ??= pocketsflowWebhook({
    secret: c.env.POCKETSFLOW_WEBHOOK_SECRET,
    on: { 'order.completed': (event) => console.log(event.data.customer.email) },
  })
  return webhook(c, next)
})

export default app
