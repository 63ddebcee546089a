// Types only (checked by `pnpm run typecheck`): the handler mounts on apps of any Env, and
// c.var.pocketsflowEvent is typed before and after it.
import { Hono } from 'hono'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { isEventType, pocketsflowWebhook, type PocketsflowContextEvent, type StandardSchemaV1, type WebhookReceiver } from '../src/index.js'

describe('types', () => {
  it('mounts on an app with its own bindings and types c.var.pocketsflowEvent', () => {
    const webhook = pocketsflowWebhook({ secret: 'whsec_types_only', on: { 'order.completed': (event) => void event.data.customer.email } })
    expectTypeOf(webhook.receiver).toEqualTypeOf<WebhookReceiver>()
    const app = new Hono<{ Bindings: { POCKETSFLOW_WEBHOOK_SECRET: string } }>()
    app.use(async (c, next) => {
      await next()
      expectTypeOf(c.var.pocketsflowEvent).toEqualTypeOf<PocketsflowContextEvent | undefined>()
    })
    app.post('/webhooks/pocketsflow', webhook, (c) => {
      const event = c.var.pocketsflowEvent
      if (event && isEventType(event, 'order.completed')) expectTypeOf(event.data.customer.email).toBeString()
      return c.body(null)
    })
  })

  it("types a handler's event data from its schema's output, and refuses a schema that is not one", () => {
    const orderSchema: StandardSchemaV1<unknown, { amount: number; sku: string }> = {
      '~standard': { version: 1, vendor: 'types', validate: (value) => ({ value: value as { amount: number; sku: string } }) },
    }
    pocketsflowWebhook({
      secret: 'whsec_types_only',
      schemas: { 'order.completed': orderSchema },
      on: {
        'order.completed': (event) => expectTypeOf(event.data).toEqualTypeOf<{ amount: number; sku: string }>(),
        'order.refunded': (event) => expectTypeOf(event.data.customer.email).toBeString(),
      },
    })
    // @ts-expect-error: not a Standard Schema (refused at run time too)
    expect(() => pocketsflowWebhook({ secret: 'whsec_types_only', schemas: { 'order.completed': { parse: () => 1 } } })).toThrow(/not a Standard Schema/)
  })
})
