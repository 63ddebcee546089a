// Type-level checks (run by `tsc`); the runtime assertions are trivial.
import Koa3 from 'koa'
import Koa2 from 'koa2'
import { describe, expectTypeOf, it } from 'vitest'
import {
  isEventType,
  pocketsflowWebhook,
  type PocketsflowStateEvent,
  type PocketsflowWebhookMiddleware,
  type PocketsflowWebhookState,
} from '../src/index.js'

describe('types', () => {
  it('mounts on Koa 2 and Koa 3 apps, with default or custom state and context', () => {
    const webhook = pocketsflowWebhook({ secret: 'whsec_types', logger: false })
    expectTypeOf(webhook).toEqualTypeOf<PocketsflowWebhookMiddleware>()
    new Koa3().use(webhook)
    new Koa2().use(webhook)
    new Koa3<{ user?: string } & PocketsflowWebhookState, { requestId: string }>().use(webhook)
  })

  it('types ctx.state.pocketsflowEvent on the default state, narrowable per event type', () => {
    const app = new Koa3()
    app.use(async (ctx, next) => {
      await next()
      const event = ctx.state.pocketsflowEvent
      expectTypeOf(event).toEqualTypeOf<PocketsflowStateEvent | undefined>()
      if (event && isEventType(event, 'order.completed')) expectTypeOf(event.data.customer.email).toEqualTypeOf<string>()
    })
    new Koa3<PocketsflowWebhookState>().use(async (ctx) => {
      expectTypeOf(ctx.state.pocketsflowEvent).toEqualTypeOf<PocketsflowStateEvent | undefined>()
    })
  })

  it('types the handlers per event, and callNext', () => {
    pocketsflowWebhook({
      secret: ['whsec_new', 'whsec_old'],
      callNext: true,
      on: { 'order.refunded': (event) => expectTypeOf(event.type).toEqualTypeOf<'order.refunded'>() },
    })
    // @ts-expect-error: a typo in an option is caught
    pocketsflowWebhook({ secret: 'whsec_types', callnext: true })
  })
})
