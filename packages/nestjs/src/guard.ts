import {
  BadRequestException,
  HttpException,
  Inject,
  Injectable,
  InternalServerErrorException,
  MethodNotAllowedException,
  Optional,
  PayloadTooLargeException,
  ServiceUnavailableException,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common'
import type { WebhookResponse } from '@pocketsflow-webhooks/core'
import { attachEvent, type NestHttpRequest } from './http.js'
import { PocketsflowWebhookService } from './service.js'

const EXCEPTIONS: Record<number, new (message: string) => HttpException> = {
  400: BadRequestException,
  401: UnauthorizedException,
  405: MethodNotAllowedException,
  413: PayloadTooLargeException,
  500: InternalServerErrorException,
  503: ServiceUnavailableException,
}

/** The core's answer as the Nest exception of the same status, with the core's generic message. */
function exceptionFor(response: WebhookResponse): HttpException {
  let message = 'webhook rejected'
  try {
    message = (JSON.parse(response.body) as { error?: string }).error ?? message
  } catch {
    // the core's bodies are JSON; keep the generic message if one ever is not
  }
  const Exception = EXCEPTIONS[response.status]
  return Exception ? new Exception(message) : new HttpException(message, response.status)
}

/**
 * Verifies a delivery on a route of your own, with the module's options: signature (every
 * secret), timestamp, body size and JSON. The precise reason goes to the logs and the `rejected`
 * hook; the exception carries the core's status and generic message:
 * 401 `UnauthorizedException` (bad or missing signature, stale or future timestamp, type header
 * contradicting the body), 400 `BadRequestException` (signed but malformed JSON),
 * 413 `PayloadTooLargeException`, 503 after shutdown began, 500 when the raw body is missing.
 * It does not de-duplicate and runs no handlers: your route does the work, before it answers.
 * Under `testMode: 'ignore'` a test-mode event is answered 200 `{"received":true}` here, and the
 * route does not run.
 */
@Injectable()
export class PocketsflowWebhookGuard implements CanActivate {
  readonly #webhook: PocketsflowWebhookService

  constructor(@Optional() @Inject(PocketsflowWebhookService) webhook: PocketsflowWebhookService | undefined) {
    if (webhook === undefined || webhook === null) {
      throw new Error(
        'pocketsflow-webhooks: PocketsflowWebhookGuard needs PocketsflowWebhookModule in the module of the controller that uses it: ' +
          'import PocketsflowWebhookModule.forRoot({ secret, route: false }) there, or register it once with isGlobal: true',
      )
    }
    this.#webhook = webhook
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') throw new Error('pocketsflow-webhooks: PocketsflowWebhookGuard works on HTTP routes only')
    const req = context.switchToHttp().getRequest<NestHttpRequest>()
    const result = await this.#webhook.verify(req)
    // Acknowledged without an event (a test-mode event under testMode: 'ignore'): the sender gets
    // the 200, and the route does not run.
    if (result.event === undefined && result.response.status === 200) throw new HttpException(JSON.parse(result.response.body) as object, 200)
    if (result.event === undefined || result.response.status !== 200) throw exceptionFor(result.response)
    attachEvent(req, result.event)
    return true
  }
}
