// PocketsflowWebhookGuard, @PocketsflowWebhook() and @PocketsflowEvent() on routes of the app's own.
import {
  Catch,
  Controller,
  HttpCode,
  HttpException,
  Module,
  Post,
  UnauthorizedException,
  UseGuards,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common'
import { APP_FILTER, BaseExceptionFilter } from '@nestjs/core'
import { afterEach, describe, expect, it } from 'vitest'
import {
  PocketsflowEvent,
  PocketsflowWebhook,
  PocketsflowWebhookGuard,
  PocketsflowWebhookModule,
  type PocketsflowWebhookModuleOptions,
  type WebhookEvent,
} from '../src/index.js'
import { boot, closeAll, PLATFORMS, quiet, recordingLogger, SECRET, sign, type Platform } from './helpers.js'

afterEach(closeAll)

const ROUTE = '/payments/webhook'

function paymentsApp(options: Partial<PocketsflowWebhookModuleOptions> = {}) {
  const received: WebhookEvent[] = []
  const exceptions: unknown[] = []

  @Controller('payments')
  class PaymentsController {
    @Post('webhook')
    @PocketsflowWebhook()
    handle(@PocketsflowEvent() event: PocketsflowEvent<'order.completed'>) {
      received.push(event)
      return { granted: event.data.customer.email }
    }

    @Post('no-content')
    @PocketsflowWebhook()
    @HttpCode(204)
    quiet() {}
  }

  // Records what reaches the app's exception layer, then lets Nest answer as usual.
  @Catch()
  class Spy extends BaseExceptionFilter implements ExceptionFilter {
    override catch(exception: unknown, host: ArgumentsHost) {
      exceptions.push(exception)
      super.catch(exception, host)
    }
  }

  @Module({
    imports: [PocketsflowWebhookModule.forRoot({ secret: SECRET, logger: quiet, route: false, ...options })],
    controllers: [PaymentsController],
    providers: [{ provide: APP_FILTER, useClass: Spy }],
  })
  class AppModule {}
  return { AppModule, received, exceptions }
}

describe.each(PLATFORMS)('PocketsflowWebhookGuard on %s', (platform: Platform) => {
  it('lets a verified delivery through with the event for @PocketsflowEvent(), answering 200', async () => {
    const { AppModule, received } = paymentsApp()
    const app = await boot(platform, AppModule)
    const res = await app.post(await sign({ overrides: { customer: { email: 'c@example.com' } } }), ROUTE)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ granted: 'c@example.com' })
    expect(received).toHaveLength(1)
    expect(received[0]?.type).toBe('order.completed')
    expect(received[0]?.verification.secretIndex).toBe(0)
  })

  it("testMode: 'ignore': a test-mode event is answered 200 by the guard and never reaches the route; a live one does", async () => {
    const { AppModule, received } = paymentsApp({ testMode: 'ignore' })
    const app = await boot(platform, AppModule)
    const test = await app.post(await sign({ overrides: { testMode: true, livemode: false } }), ROUTE)
    expect(test.status).toBe(200)
    expect(await test.json()).toEqual({ received: true })
    expect(received).toHaveLength(0)
    const live = await app.post(await sign({ overrides: { testMode: false, livemode: true, customer: { email: 'live@example.com' } } }), ROUTE)
    expect(await live.json()).toEqual({ granted: 'live@example.com' })
    expect(received.map((event) => event.testMode)).toEqual([false])
  })

  it('keeps the route’s own @HttpCode()', async () => {
    const { AppModule } = paymentsApp()
    const app = await boot(platform, AppModule)
    expect((await app.post(await sign(), '/payments/no-content')).status).toBe(204)
  })

  it.each([
    ['tampered body', async () => {
      const req = await sign()
      return { ...req, body: req.body.replace('example.com', 'evil.example') }
    }],
    ['missing signature', async () => {
      const { 'X-Pocketsflow-Signature': _omit, ...headers } = (await sign()).headers
      return { headers, body: (await sign()).body }
    }],
    ['garbled signature', async () => {
      const req = await sign()
      return { ...req, headers: { ...req.headers, 'X-Pocketsflow-Signature': 'zz' } }
    }],
    ['stale timestamp', () => sign({ timestamp: Date.now() - 10 * 60_000 })],
    ['future timestamp', () => sign({ timestamp: Date.now() + 10 * 60_000 })],
    ['event header contradicting the body', async () => {
      const req = await sign()
      return { ...req, headers: { ...req.headers, 'X-Pocketsflow-Event': 'order.refunded' } }
    }],
  ])('throws UnauthorizedException (401) for a %s; the route does not run', async (_label, make) => {
    const { AppModule, received, exceptions } = paymentsApp()
    const app = await boot(platform, AppModule)
    const res = await app.post(await make(), ROUTE)
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ statusCode: 401, message: 'invalid signature', error: 'Unauthorized' })
    expect(exceptions[0]).toBeInstanceOf(UnauthorizedException)
    expect(received).toEqual([])
  })

  it('accepts ms and s timestamps, and either secret during a rotation', async () => {
    const { AppModule, received } = paymentsApp({ secret: ['whsec_next', SECRET] })
    const app = await boot(platform, AppModule)
    expect((await app.post(await sign({ timestampUnit: 's' }), ROUTE)).status).toBe(200)
    expect((await app.post(await sign({ timestampUnit: 'ms', secret: 'whsec_next' }), ROUTE)).status).toBe(200)
    expect(received.map((e) => e.verification.secretIndex)).toEqual([1, 0])
  })

  it('throws BadRequestException (400) for a signed body that is not JSON', async () => {
    const { AppModule, exceptions } = paymentsApp()
    const app = await boot(platform, AppModule)
    const res = await app.post(await sign({ body: '[1,2,' }), ROUTE)
    expect(res.status).toBe(400)
    expect((exceptions[0] as HttpException).getStatus()).toBe(400)
  })

  it('throws PayloadTooLargeException (413) over bodyLimit', async () => {
    const { AppModule } = paymentsApp({ bodyLimit: 1024 })
    const app = await boot(platform, AppModule)
    expect((await app.post(await sign({ overrides: { padding: 'x'.repeat(4096) } }), ROUTE)).status).toBe(413)
  })

  it('without rawBody: true, answers 500 and logs what to set', async () => {
    const { lines, logger } = recordingLogger()
    const { AppModule, received } = paymentsApp({ logger })
    const app = await boot(platform, AppModule, { rawBody: false })
    expect((await app.post(await sign(), ROUTE)).status).toBe(500)
    expect(lines.find((l) => l.level === 'error')?.msg).toContain('{ rawBody: true }')
    expect(received).toEqual([])
  })
})

describe('guard wiring', () => {
  it('works from another module when the webhook module is global, as @UseGuards on a class', async () => {
    const received: string[] = []

    @Controller('billing')
    @UseGuards(PocketsflowWebhookGuard)
    class BillingController {
      @Post('hook')
      @HttpCode(200)
      hook(@PocketsflowEvent() event: WebhookEvent) {
        received.push(event.type)
      }
    }

    @Module({ controllers: [BillingController] })
    class BillingModule {}

    @Module({ imports: [PocketsflowWebhookModule.forRoot({ secret: SECRET, logger: quiet, route: false, isGlobal: true }), BillingModule] })
    class AppModule {}

    const app = await boot('express', AppModule)
    expect((await app.post(await sign({ type: 'order.refunded' }), '/billing/hook')).status).toBe(200)
    expect(received).toEqual(['order.refunded'])
  })

  it('fails at start-up with a clear message when the module is not reachable', async () => {
    @Controller('billing')
    class BillingController {
      @Post('hook')
      @PocketsflowWebhook()
      hook() {}
    }
    @Module({ controllers: [BillingController] })
    class BillingModule {}
    @Module({ imports: [PocketsflowWebhookModule.forRoot({ secret: SECRET, logger: quiet, route: false }), BillingModule] })
    class AppModule {}

    await expect(boot('express', AppModule)).rejects.toThrow(/PocketsflowWebhookGuard needs PocketsflowWebhookModule .* isGlobal: true/)
  })

  it('@PocketsflowEvent() without the guard is an error that names the fix', async () => {
    const exceptions: unknown[] = []
    @Catch()
    class Spy implements ExceptionFilter {
      catch(exception: unknown, host: ArgumentsHost) {
        exceptions.push(exception)
        host.switchToHttp().getResponse<{ status(n: number): { json(b: unknown): void } }>().status(500).json({})
      }
    }
    @Controller('billing')
    class BillingController {
      @Post('hook')
      hook(@PocketsflowEvent() _event: WebhookEvent) {}
    }
    @Module({ controllers: [BillingController], providers: [{ provide: APP_FILTER, useClass: Spy }] })
    class AppModule {}

    const app = await boot('express', AppModule)
    expect((await app.post(await sign(), '/billing/hook')).status).toBe(500)
    expect(String(exceptions[0])).toMatch(/put @PocketsflowWebhook\(\)/)
  })
})
