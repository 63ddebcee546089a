// Type-level contract of handlers and events; `pnpm typecheck` fails if these stop holding.
import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  createWebhookReceiver,
  isEventType,
  type AnyEventFor,
  type PocketbookEvent,
  type PocketsflowEvent,
  type UnknownPocketsflowEvent,
  type UntypedEvent,
  type WebhookHandlerError,
  UNTYPED,
} from '../src/index.js'

const secret = 'whsec_types'

describe('handler typing', () => {
  it('types each handler by its event, and onEvent by every event', () => {
    createWebhookReceiver({
      secret,
      logger: false,
      on: {
        'order.completed': async (event, ctx) => {
          expectTypeOf(event.type).toEqualTypeOf<'order.completed'>()
          expectTypeOf(event.data.customer.email).toBeString()
          expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>()
          // @ts-expect-error: an email is a string, not a number
          event.data.customer.email.toFixed()
        },
        // The alias key receives the canonical event.
        'customer.subscription.pause': (event) => {
          expectTypeOf(event.type).toEqualTypeOf<'customer.subscription.paused'>()
        },
        // @ts-expect-error: unknown keys are not typed handlers (use onEvent)
        'order.complete': () => {},
      },
      onEvent: (event) => {
        expectTypeOf(event).toEqualTypeOf<PocketsflowEvent | UnknownPocketsflowEvent | UntypedEvent<'pocketsflow'>>()
        if (isEventType(event, 'order.refunded')) expectTypeOf(event.data.refund.id).toBeString()
        // An authentic delivery that named no type: its body is whatever JSON it was.
        if (event.type === UNTYPED) expectTypeOf(event.data).toBeUnknown()
      },
      onError: (error, event) => {
        expectTypeOf(error).toEqualTypeOf<WebhookHandlerError<AnyEventFor<'pocketsflow'>>>()
        expectTypeOf(event).toEqualTypeOf<AnyEventFor<'pocketsflow'>>()
      },
    })
  })

  it('takes several handlers per type, each typed by its event', () => {
    createWebhookReceiver({
      secret,
      logger: false,
      on: {
        'order.completed': [
          (event) => expectTypeOf(event.data.customer.email).toBeString(),
          async (event, ctx) => {
            expectTypeOf(event.type).toEqualTypeOf<'order.completed'>()
            expectTypeOf(ctx.attempt).toBeNumber()
          },
        ],
        // @ts-expect-error: every handler in the list is typed by the key
        'order.refunded': [(event: PocketsflowEvent<'order.completed'>) => event.data.customer.email],
      },
      onEvent: [(event) => expectTypeOf(event.id).toBeString(), () => {}],
    })
  })

  it('follows the provider', () => {
    createWebhookReceiver({
      provider: 'pocketbook',
      secret,
      logger: false,
      on: {
        'voucher.minted': (event) => {
          expectTypeOf(event).toEqualTypeOf<PocketbookEvent<'voucher.minted'>>()
          expectTypeOf(event.data.voucherId).toBeString()
          expectTypeOf(event.payload.id).toBeString()
        },
        // @ts-expect-error: a Pocketsflow type is not a Pocketbook handler key
        'order.completed': () => {},
      },
    })
  })

  it('isEventType narrows at run time too', () => {
    const event = { type: 'order.completed', provider: 'pocketsflow' } as unknown as AnyEventFor<'pocketsflow'>
    expect(isEventType(event, 'order.completed')).toBe(true)
    expect(isEventType(event, 'order.refunded')).toBe(false)
  })
})
