// Compile-time checks (run by `tsc -p tsconfig.json`): decorated methods must accept the event
// they are registered for. The runtime assertion only keeps vitest from reporting an empty file.
import { Injectable } from '@nestjs/common'
import { expect, it } from 'vitest'
import {
  OnPocketsflowEvent,
  PocketsflowWebhookModule,
  type HandlerContext,
  type PocketbookEvent,
  type PocketsflowEvent,
  type UnknownPocketsflowEvent,
  type WebhookEvent,
} from '../src/index.js'

@Injectable()
export class Handlers {
  @OnPocketsflowEvent('order.completed')
  exact(event: PocketsflowEvent<'order.completed'>, ctx: HandlerContext) {
    return [event.data.customer.email, ctx.signal]
  }

  @OnPocketsflowEvent('order.completed')
  wider(event: WebhookEvent) {
    return event.id
  }

  @OnPocketsflowEvent('order.completed')
  noArguments() {}

  @OnPocketsflowEvent(['order.completed', 'order.refunded'])
  union(event: PocketsflowEvent<'order.completed' | 'order.refunded'>) {
    return event.type === 'order.refunded' ? event.data.refund.id : event.data.customer.email
  }

  // The alias is typed as the canonical event.
  @OnPocketsflowEvent('customer.subscription.pause')
  paused(event: PocketsflowEvent<'customer.subscription.paused'>) {
    return event.type satisfies 'customer.subscription.paused'
  }

  // A type this version does not know: a generic event.
  @OnPocketsflowEvent('payout.sent')
  unknown(event: UnknownPocketsflowEvent) {
    return event.data
  }

  @OnPocketsflowEvent()
  everything(event: WebhookEvent) {
    return event.type
  }

  @OnPocketsflowEvent()
  everythingPocketsflow(event: PocketsflowEvent | UnknownPocketsflowEvent) {
    return event.type
  }

  @OnPocketsflowEvent('voucher.minted')
  pocketbook(event: PocketbookEvent<'voucher.minted'>) {
    return event.data
  }

  // @ts-expect-error registered for order.completed, written for order.refunded
  @OnPocketsflowEvent('order.completed')
  wrongType(event: PocketsflowEvent<'order.refunded'>) {
    return event
  }

  // @ts-expect-error a list, but the method takes only one of its events
  @OnPocketsflowEvent(['order.completed', 'invoice.paid'])
  tooNarrow(event: PocketsflowEvent<'order.refunded'>) {
    return event
  }
}

// forRoot's options are typed per provider.
PocketsflowWebhookModule.forRoot({
  secret: 'whsec_x',
  on: { 'order.completed': (event) => event.data.customer.email },
  route: false,
  isGlobal: true,
})
PocketsflowWebhookModule.forRoot({
  provider: 'pocketbook',
  secret: 'whsec_x',
  on: { 'voucher.minted': (event) => event.data },
})
// @ts-expect-error not an option
PocketsflowWebhookModule.forRoot({ secret: 'whsec_x', secrett: 'typo' })

it('type-checks (see tsc)', () => {
  expect(typeof Handlers).toBe('function')
})
