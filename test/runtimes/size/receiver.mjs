// A Worker with the whole receiver: createFetchHandler (verify, dedupe, acknowledge, dispatch with
// retries and dead letters), one typed handler, run through ctx.waitUntil.
import { createFetchHandler } from '@pocketsflow-webhooks/core/web'

let handle

export default {
  fetch(request, env, ctx) {
    handle ??= createFetchHandler({
      secret: env.POCKETSFLOW_WEBHOOK_SECRET,
      on: { 'order.completed': (event) => console.log(event.data.customer.email) },
    })
    return handle(request, { waitUntil: ctx.waitUntil.bind(ctx) })
  },
}
