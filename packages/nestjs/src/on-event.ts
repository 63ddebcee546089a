import type {
  EventOfType,
  HandlerContext,
  POCKETSFLOW_EVENT_ALIASES,
  PocketsflowEventAlias,
  PocketsflowEventType,
  WebhookEvent,
} from '@pocketsflow-webhooks/core'

// Reflect metadata (global, installed by @nestjs/common's import of reflect-metadata) rather than a
// module-level WeakMap: an app that loads this package twice (ESM and CJS) still sees one registry.
const HANDLER_METADATA = 'pocketsflow-webhooks:handlers'
export const metadata = Reflect as unknown as {
  getOwnMetadata(key: string, target: object): unknown
  defineMetadata(key: string, value: unknown, target: object): void
}

/** What one `@OnPocketsflowEvent(...)` says: these types, or every event (`undefined`). */
export interface HandlerRegistration {
  readonly types: readonly string[] | undefined
}

/** The registrations on a method, in the order they were applied. */
export function handlerRegistrations(method: unknown): readonly HandlerRegistration[] {
  if (typeof method !== 'function') return []
  return (metadata.getOwnMetadata(HANDLER_METADATA, method) as HandlerRegistration[] | undefined) ?? []
}

type HandlerKey = PocketsflowEventType | PocketsflowEventAlias
type Canonical<K extends string> = K extends PocketsflowEventAlias ? (typeof POCKETSFLOW_EVENT_ALIASES)[K] : K
/** The event a method registered for K receives: typed for Pocketsflow's types, generic otherwise. */
export type EventFor<K extends string> = K extends HandlerKey ? EventOfType<'pocketsflow', Canonical<K>> : WebhookEvent

// Declared as a method so that the method's parameter is compared bivariantly: a handler typed
// `(event: WebhookEvent)` or `(event: PocketsflowEvent<'order.completed'>)` both fit, a handler for
// another event type does not.
interface HandlerMethod<E> {
  handle(event: E, ctx: HandlerContext): unknown
}

/** A method decorator that only fits methods able to take event E. */
export type OnPocketsflowEventDecorator<E> = <M extends HandlerMethod<E>['handle']>(
  target: object,
  propertyKey: string | symbol,
  descriptor: TypedPropertyDescriptor<M>,
) => void

/**
 * Runs the method for deliveries of the given type(s), after the 200 has been sent, with the
 * core's retries and `onError`. Without an argument, it runs for every accepted event, unknown
 * types included (the catch-all, like `onEvent`). Methods are found on any singleton provider or
 * controller when the application starts, and are called directly: no guard, interceptor, pipe
 * or exception filter of the app wraps them.
 * @example
 * ```ts
 * @OnPocketsflowEvent('order.completed')
 * async grantAccess(event: PocketsflowEvent<'order.completed'>, ctx: HandlerContext) {}
 * ```
 */
export function OnPocketsflowEvent(): OnPocketsflowEventDecorator<WebhookEvent>
export function OnPocketsflowEvent<K extends HandlerKey | (string & {})>(type: K | readonly K[]): OnPocketsflowEventDecorator<EventFor<K>>
export function OnPocketsflowEvent(type?: string | readonly string[]): OnPocketsflowEventDecorator<never> {
  const types = type === undefined ? undefined : typeof type === 'string' ? [type] : [...type]
  if (types !== undefined && (types.length === 0 || types.some((t) => typeof t !== 'string' || t.trim() === ''))) {
    throw new TypeError(
      `pocketsflow-webhooks: @OnPocketsflowEvent() takes an event type or a non-empty list of them (got ${JSON.stringify(type)}); without an argument it is the catch-all`,
    )
  }
  return (target, propertyKey, descriptor) => {
    // Called by hand from plain JavaScript, the descriptor may be left out.
    const method = descriptor?.value ?? (target as Record<string | symbol, unknown>)[propertyKey]
    if (typeof method !== 'function') {
      throw new TypeError(`pocketsflow-webhooks: @OnPocketsflowEvent() decorates methods, ${target.constructor.name}.${String(propertyKey)} is not one`)
    }
    const registration: HandlerRegistration = Object.freeze({ types: types && Object.freeze(types) })
    metadata.defineMetadata(HANDLER_METADATA, [...handlerRegistrations(method), registration], method)
  }
}

