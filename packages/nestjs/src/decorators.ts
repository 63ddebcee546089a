import { createParamDecorator, HttpCode, UseGuards, type ExecutionContext } from '@nestjs/common'
import type { PocketsflowEvent as CorePocketsflowEvent, PocketsflowEventType } from '@pocketsflow-webhooks/core'
import { PocketsflowWebhookGuard } from './guard.js'
import { verifiedEvent } from './http.js'
import { metadata } from './on-event.js'

/** @nestjs/common's HTTP_CODE_METADATA (not exported from its index). */
const HTTP_CODE_METADATA = '__httpCode__'

/**
 * Parameter decorator: the event that `PocketsflowWebhookGuard` verified for this request.
 * `handle(@PocketsflowEvent() event: PocketsflowEvent<'order.completed'>)`.
 */
export const PocketsflowEvent: () => ParameterDecorator = createParamDecorator((_data: unknown, context: ExecutionContext) => {
  const event = verifiedEvent(context.switchToHttp().getRequest<object>())
  if (event === undefined) {
    throw new Error(
      'pocketsflow-webhooks: @PocketsflowEvent() found no verified event on this request: put @PocketsflowWebhook() (or @UseGuards(PocketsflowWebhookGuard)) on the route',
    )
  }
  return event
})

/** A verified Pocketsflow event of type T (the type of what `@PocketsflowEvent()` gives). */
export type PocketsflowEvent<T extends PocketsflowEventType = PocketsflowEventType> = CorePocketsflowEvent<T>

/**
 * For a route of your own: verifies the delivery with `PocketsflowWebhookGuard` (401 when the
 * signature or timestamp is wrong) and answers 200 instead of Nest's default 201 for a POST,
 * unless the route sets its own `@HttpCode()`. Read the event with `@PocketsflowEvent()`.
 */
export function PocketsflowWebhook(): MethodDecorator & ClassDecorator {
  return (target: object, propertyKey?: string | symbol, descriptor?: PropertyDescriptor) => {
    UseGuards(PocketsflowWebhookGuard)(target, propertyKey as string | symbol, descriptor as PropertyDescriptor)
    // Decorators apply bottom-up, so a @HttpCode() written above this one wins anyway; one written
    // below it has already set the code, which is kept.
    if (descriptor && typeof descriptor.value === 'function' && metadata.getOwnMetadata(HTTP_CODE_METADATA, descriptor.value) === undefined) {
      HttpCode(200)(target, propertyKey as string | symbol, descriptor)
    }
  }
}
