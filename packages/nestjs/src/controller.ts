import { All, Controller, Inject, Req, Res, VERSION_NEUTRAL, type Type } from '@nestjs/common'
import type { NestHttpRequest } from './http.js'
import { PocketsflowWebhookService } from './service.js'

/**
 * A controller class of its own per module declaration, so that its path and the decorators given
 * in the options belong to that module only.
 */
export function createWebhookController(decorators: readonly MethodDecorator[]): Type<unknown> {
  @Controller()
  class PocketsflowWebhookController {
    readonly #webhook: PocketsflowWebhookService

    constructor(@Inject(PocketsflowWebhookService) webhook: PocketsflowWebhookService) {
      this.#webhook = webhook
      // forRootAsync knows the path only once its factory has run, which is now: Nest creates every
      // instance before it reads controller paths to register the routes. Version-neutral, so URI
      // versioning in the app does not move the URL registered in the Pocketsflow dashboard.
      Controller({ path: webhook.path, version: VERSION_NEUTRAL })(new.target)
    }

    // Every method, so that the core answers 405 (with Allow: POST) instead of Nest's 404. @Res()
    // without passthrough: the core's response goes out as it is, not through Nest's serializer.
    @All()
    receive(@Req() req: NestHttpRequest, @Res() res: unknown): Promise<void> {
      return this.#webhook.receive(req, res)
    }
  }

  const prototype = PocketsflowWebhookController.prototype
  let descriptor = Object.getOwnPropertyDescriptor(prototype, 'receive') as PropertyDescriptor
  // As if written above the method: the last one in the list is applied first.
  for (const decorate of [...decorators].reverse()) {
    if (typeof decorate !== 'function') throw new TypeError('pocketsflow-webhooks: "decorators" must be method decorators, e.g. [Public()]')
    descriptor = (decorate(prototype, 'receive', descriptor) as PropertyDescriptor | undefined) ?? descriptor
  }
  Object.defineProperty(prototype, 'receive', descriptor)
  return PocketsflowWebhookController
}
