// What a shop selling digital products does with Pocketsflow events. Each method runs after
// Pocketsflow got its 200, with retries; a method that fails for good reaches onError.
import { Injectable } from '@nestjs/common'
import { OnPocketsflowEvent, type PocketsflowEvent, type WebhookEvent } from '@pocketsflow-webhooks/nestjs'

@Injectable()
export class AccessService {
  /** Stands for your database: customer email → product ids they may download. */
  readonly #access = new Map<string, Set<string>>()
  readonly #members = new Map<string, 'active' | 'paused' | 'ended'>()
  readonly log: string[] = []

  @OnPocketsflowEvent('order.completed')
  grant(event: PocketsflowEvent<'order.completed'>) {
    const { customer, product } = event.data
    const products = this.#access.get(customer.email) ?? new Set()
    this.#access.set(customer.email, products.add(product.id))
    this.log.push(`granted ${product.id} to ${customer.email}`)
  }

  @OnPocketsflowEvent('order.refunded')
  revoke(event: PocketsflowEvent<'order.refunded'>) {
    this.#access.delete(event.data.customer.email)
    this.log.push(`revoked access of ${event.data.customer.email}`)
  }

  @OnPocketsflowEvent(['customer.subscription.created', 'customer.subscription.resumed'])
  activate(event: PocketsflowEvent<'customer.subscription.created' | 'customer.subscription.resumed'>) {
    this.#members.set(event.data.customer.email, 'active')
  }

  // Also runs for deliveries spelled customer.subscription.pause.
  @OnPocketsflowEvent('customer.subscription.paused')
  pause(event: PocketsflowEvent<'customer.subscription.paused'>) {
    this.#members.set(event.data.customer.email, 'paused')
  }

  @OnPocketsflowEvent('customer.subscription.deleted')
  end(event: PocketsflowEvent<'customer.subscription.deleted'>) {
    this.#members.set(event.data.customer.email, 'ended')
  }

  /** Every accepted event, unknown types included. */
  @OnPocketsflowEvent()
  record(event: WebhookEvent) {
    this.log.push(`recorded ${event.type}`)
  }

  productsOf(email: string): string[] {
    return [...(this.#access.get(email) ?? [])]
  }

  membershipOf(email: string): string | undefined {
    return this.#members.get(email)
  }
}
