// @OnPocketsflowEvent discovery and dispatch, global enhancers, async configuration, shutdown.
import {
  Catch,
  Controller,
  ForbiddenException,
  Get,
  Inject,
  Injectable,
  Module,
  Scope,
  SetMetadata,
  UseGuards,
  UseInterceptors,
  type ArgumentsHost,
  type CallHandler,
  type CanActivate,
  type ExceptionFilter,
  type ExecutionContext,
  type NestInterceptor,
} from '@nestjs/common'
import { ConfigModule, ConfigService } from '@nestjs/config'
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, Reflector } from '@nestjs/core'
import { map, type Observable } from 'rxjs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  OnPocketsflowEvent,
  PocketsflowWebhookModule,
  PocketsflowWebhookService,
  WebhookHandlerError,
  type HandlerContext,
  type WebhookInbox,
  type PocketsflowEvent,
  type PocketsflowWebhookModuleOptions,
  type WebhookEvent,
} from '../src/index.js'
import type { InboxProcessor } from '@pocketsflow-webhooks/core/inbox'
import { parseEvent, serializeEvent } from '@pocketsflow-webhooks/core/inbox'
import { boot, closeAll, PLATFORMS, quiet, SECRET, sign, tick, type Platform } from './helpers.js'

afterEach(closeAll)

const forRoot = (options: Partial<PocketsflowWebhookModuleOptions> & { decorators?: MethodDecorator[] } = {}) =>
  PocketsflowWebhookModule.forRoot({ secret: SECRET, logger: quiet, retry: false, ...options })

describe('discovery', () => {
  it('runs methods registered for one type, a list of types, and every event', async () => {
    const calls: string[] = []

    @Injectable()
    class Access {
      @OnPocketsflowEvent('order.completed')
      grant(event: PocketsflowEvent<'order.completed'>) {
        calls.push(`grant ${event.data.customer.email}`)
      }

      @OnPocketsflowEvent(['order.refunded', 'customer.subscription.deleted'])
      revoke(event: PocketsflowEvent<'order.refunded' | 'customer.subscription.deleted'>) {
        calls.push(`revoke ${event.type}`)
      }

      @OnPocketsflowEvent()
      audit(event: WebhookEvent) {
        calls.push(`audit ${event.type}`)
      }
    }

    @Module({ imports: [forRoot()], providers: [Access] })
    class AppModule {}

    const app = await boot('express', AppModule)
    await app.post(await sign({ overrides: { customer: { email: 'a@example.com' } } }))
    await app.post(await sign({ type: 'order.refunded' }))
    await app.post(await sign({ type: 'customer.subscription.deleted' }))
    await app.post(await sign({ type: 'invoice.paid' }))
    await vi.waitFor(() => expect(calls).toHaveLength(7))
    expect(calls).toEqual([
      'grant a@example.com',
      'audit order.completed',
      'revoke order.refunded',
      'audit order.refunded',
      'revoke customer.subscription.deleted',
      'audit customer.subscription.deleted',
      'audit invoice.paid',
    ])
  })

  it('finds handlers in any module, and on controllers, calling them on the instance Nest created', async () => {
    const calls: string[] = []

    @Injectable()
    class Mailer {
      send(to: string) {
        calls.push(`mail ${to}`)
      }
    }

    @Injectable()
    class Receipts {
      constructor(@Inject(Mailer) private readonly mailer: Mailer) {}

      @OnPocketsflowEvent('order.completed')
      async send(event: PocketsflowEvent<'order.completed'>) {
        this.mailer.send(event.data.customer.email)
      }
    }

    @Controller('orders')
    class OrdersController {
      @OnPocketsflowEvent('order.completed')
      onPaid() {
        calls.push('controller')
      }
    }

    @Module({ providers: [Mailer, Receipts], controllers: [OrdersController] })
    class BillingModule {}

    @Module({ imports: [BillingModule, forRoot()] })
    class AppModule {}

    const app = await boot('fastify', AppModule)
    await app.post(await sign({ overrides: { customer: { email: 'b@example.com' } } }))
    await vi.waitFor(() => expect(calls).toHaveLength(2))
    expect(calls).toContain('mail b@example.com')
    expect(calls).toContain('controller')
  })

  it('runs several methods for one type one after the other, and a retry re-runs only the one that failed', async () => {
    const calls: string[] = []
    let failures = 1

    @Injectable()
    class First {
      @OnPocketsflowEvent('order.completed')
      async grant() {
        calls.push('grant')
      }
    }

    @Injectable()
    class Second {
      @OnPocketsflowEvent('order.completed')
      async notify(_event: WebhookEvent, ctx: HandlerContext) {
        calls.push(`notify attempt ${ctx.attempt}`)
        if (failures-- > 0) throw new Error('mail server down')
      }
    }

    @Module({ imports: [forRoot({ retry: { maxAttempts: 3, minDelayMs: 1, maxDelayMs: 1 } })], providers: [First, Second] })
    class AppModule {}

    const app = await boot('express', AppModule)
    await app.post(await sign())
    await vi.waitFor(() => expect(calls).toEqual(['grant', 'notify attempt 1', 'notify attempt 2']))
    await tick(50)
    expect(calls).toEqual(['grant', 'notify attempt 1', 'notify attempt 2'])
  })

  it('with a durable inbox, a retry skips the methods that succeeded (each attempt gets a fresh event object)', async () => {
    const calls: string[] = []
    let failures = 1
    const stored = new Map<string, { text: string; completed: string[] }>()
    let processor: InboxProcessor | undefined
    // What the real inboxes do: the event is stored as text, each attempt parses a new object,
    // and the handlers' successes are recorded by name between attempts.
    const inbox: WebhookInbox = {
      record: async (event) => !stored.has(event.id) && Boolean(stored.set(event.id, { text: serializeEvent(event), completed: [] })),
      start: (p) => void (processor = p),
      close: async () => {},
      deadLetters: async () => [],
      replay: async () => false,
    }

    @Injectable()
    class First {
      @OnPocketsflowEvent('order.completed')
      async grant() {
        calls.push('grant')
      }
    }

    @Injectable()
    class Second {
      @OnPocketsflowEvent('order.completed')
      async notify(_event: WebhookEvent, ctx: HandlerContext) {
        calls.push(`notify attempt ${ctx.attempt}`)
        if (failures-- > 0) throw new Error('mail server down')
      }
    }

    @Module({ imports: [forRoot({ inbox, retry: { maxAttempts: 3 } })], providers: [First, Second] })
    class AppModule {}

    const app = await boot('express', AppModule)
    expect((await app.post(await sign())).status).toBe(200)
    const [row] = stored.values()
    const attempt = (n: number) =>
      processor?.run({ event: parseEvent(row?.text as string), attempt: n, completed: [...(row?.completed ?? [])], markCompleted: async (name) => void row?.completed.push(name) })
    expect(await attempt(1)).toMatchObject({ ok: false, final: false })
    expect(await attempt(2)).toEqual({ ok: true })
    expect(calls).toEqual(['grant', 'notify attempt 1', 'notify attempt 2'])
  })

  it('treats customer.subscription.pause and …paused as one event: each method runs once', async () => {
    const calls: string[] = []

    @Injectable()
    class Memberships {
      @OnPocketsflowEvent('customer.subscription.pause')
      pauseSpelling(event: PocketsflowEvent<'customer.subscription.paused'>) {
        calls.push(`a ${event.deliveredType}`)
      }

      @OnPocketsflowEvent('customer.subscription.paused')
      pausedSpelling() {
        calls.push('b')
      }

      @OnPocketsflowEvent(['customer.subscription.pause', 'customer.subscription.paused'])
      both() {
        calls.push('c')
      }
    }

    @Module({ imports: [forRoot()], providers: [Memberships] })
    class AppModule {}

    const app = await boot('express', AppModule)
    await app.post(await sign({ type: 'customer.subscription.pause' }))
    await vi.waitFor(() => expect(calls).toHaveLength(3))
    await app.post(await sign({ type: 'customer.subscription.paused' }))
    await vi.waitFor(() => expect(calls).toHaveLength(6))
    await tick()
    expect(calls).toEqual(['a customer.subscription.pause', 'b', 'c', 'a customer.subscription.paused', 'b', 'c'])
  })

  it('runs the options handlers first, then the discovered methods', async () => {
    const calls: string[] = []

    @Injectable()
    class Discovered {
      @OnPocketsflowEvent('order.completed')
      typed() {
        calls.push('method')
      }

      @OnPocketsflowEvent()
      every() {
        calls.push('method catch-all')
      }
    }

    @Module({
      imports: [
        forRoot({
          on: { 'order.completed': () => void calls.push('options') },
          onEvent: () => void calls.push('options catch-all'),
        }),
      ],
      providers: [Discovered],
    })
    class AppModule {}

    const app = await boot('express', AppModule)
    await app.post(await sign())
    await vi.waitFor(() => expect(calls).toHaveLength(4))
    expect(calls).toEqual(['options', 'method', 'options catch-all', 'method catch-all'])
  })

  it('gives a handler that fails for good to onError, not to the app exception filters, after the 200', async () => {
    const errors: WebhookHandlerError[] = []
    const filtered: unknown[] = []

    @Catch()
    class EverythingFilter implements ExceptionFilter {
      catch(exception: unknown, host: ArgumentsHost) {
        filtered.push(exception)
        const res = host.switchToHttp().getResponse<{ status?: (n: number) => { json: (b: unknown) => void } }>()
        res.status?.(418).json({ teapot: true })
      }
    }

    @Injectable()
    class Broken {
      @OnPocketsflowEvent('order.completed')
      fail() {
        throw new Error('database down')
      }
    }

    @Module({
      imports: [forRoot({ onError: (error) => void errors.push(error) })],
      providers: [Broken, { provide: APP_FILTER, useClass: EverythingFilter }],
    })
    class AppModule {}

    const app = await boot('express', AppModule)
    const res = await app.post(await sign())
    expect(res.status).toBe(200)
    await vi.waitFor(() => expect(errors).toHaveLength(1))
    expect(errors[0]).toBeInstanceOf(WebhookHandlerError)
    expect((errors[0]?.cause as Error).message).toBe('database down')
    expect(filtered).toEqual([])
  })

  it('refuses a request-scoped handler provider at start-up, saying why', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class PerRequest {
      @OnPocketsflowEvent('order.completed')
      handle() {}
    }
    @Module({ imports: [forRoot()], providers: [PerRequest] })
    class AppModule {}
    await expect(boot('express', AppModule)).rejects.toThrow(/PerRequest\.handle: PerRequest is request-scoped/)
  })

  it('refuses a method registered both for a type and as the catch-all', async () => {
    @Injectable()
    class Twice {
      @OnPocketsflowEvent('order.completed')
      @OnPocketsflowEvent()
      handle() {}
    }
    @Module({ imports: [forRoot()], providers: [Twice] })
    class AppModule {}
    await expect(boot('express', AppModule)).rejects.toThrow(/Twice\.handle .* would run twice/)
  })

  it('rejects an empty list of types where it is written', () => {
    expect(() => OnPocketsflowEvent([])).toThrow(/non-empty list/)
    expect(() => OnPocketsflowEvent('')).toThrow(/non-empty list/)
  })
})

const IS_PUBLIC = 'isPublic'
const Public = () => SetMetadata(IS_PUBLIC, true)

/** A typical app-wide auth guard: everything needs a token unless marked @Public(). */
@Injectable()
class AuthGuard implements CanActivate {
  static calls: string[] = []
  constructor(@Inject(Reflector) private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    AuthGuard.calls.push(context.getHandler().name)
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])
    if (isPublic) return true
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>()
    if (req.headers['authorization'] !== 'Bearer let-me-in') throw new ForbiddenException()
    return true
  }
}

/** A typical response-wrapping interceptor ({ data: ... }) that also counts its calls. */
@Injectable()
class WrapInterceptor implements NestInterceptor {
  static calls: string[] = []
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    WrapInterceptor.calls.push(context.getHandler().name)
    return next.handle().pipe(map((data: unknown) => ({ data })))
  }
}

@Controller('api')
class ApiController {
  @Get('me')
  me() {
    return { me: 'user' }
  }
}

describe.each(PLATFORMS)('with app-wide guards and interceptors on %s', (platform: Platform) => {
  function appWith(exempt: boolean, calls: string[]) {
    AuthGuard.calls = []
    WrapInterceptor.calls = []

    @Injectable()
    class Handlers {
      @OnPocketsflowEvent('order.completed')
      grant() {
        calls.push('grant')
      }
    }

    // A controller method that is also a handler: called directly, its own guard does not apply.
    @Controller('orders')
    @UseGuards(AuthGuard)
    @UseInterceptors(WrapInterceptor)
    class OrdersController {
      @Get()
      @OnPocketsflowEvent('order.completed')
      alsoAHandler() {
        calls.push('controller method')
        return []
      }
    }

    @Module({
      imports: [forRoot(exempt ? { decorators: [Public()] } : {})],
      controllers: [ApiController, OrdersController],
      providers: [Handlers, { provide: APP_GUARD, useClass: AuthGuard }, { provide: APP_INTERCEPTOR, useClass: WrapInterceptor }],
    })
    class AppModule {}
    return AppModule
  }

  it('decorators: [Public()] lets the webhook route through the global guard; the rest of the app stays protected', async () => {
    const calls: string[] = []
    const app = await boot(platform, appWith(true, calls))
    expect((await fetch(app.url('/api/me'))).status).toBe(403)
    const me = await fetch(app.url('/api/me'), { headers: { authorization: 'Bearer let-me-in' } })
    expect(await me.json()).toEqual({ data: { me: 'user' } })

    AuthGuard.calls = []
    WrapInterceptor.calls = []
    const res = await app.post(await sign())
    expect(res.status).toBe(200)
    // The global interceptor ran around the route, but the core's bytes went out untouched.
    expect(await res.text()).toBe('{"received":true}')
    await vi.waitFor(() => expect(calls).toHaveLength(2))
    expect(calls.sort()).toEqual(['controller method', 'grant'])
    // The guard and the interceptor saw the webhook request once each, and none of the handler calls.
    expect(AuthGuard.calls).toEqual(['receive'])
    expect(WrapInterceptor.calls).toEqual(['receive'])
  })

  it('without the exemption the global guard refuses the delivery (which is why it is needed)', async () => {
    const calls: string[] = []
    const app = await boot(platform, appWith(false, calls))
    expect((await app.post(await sign())).status).toBe(403)
    await tick()
    expect(calls).toEqual([])
  })
})

describe('forRootAsync', () => {
  it('reads the secret and the path from ConfigService', async () => {
    const calls: string[] = []

    @Injectable()
    class Handlers {
      @OnPocketsflowEvent('order.completed')
      grant() {
        calls.push('grant')
      }
    }

    @Module({
      imports: [
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          load: [() => ({ POCKETSFLOW_WEBHOOK_SECRET: SECRET, POCKETSFLOW_WEBHOOK_PATH: '/from-config' })],
        }),
        PocketsflowWebhookModule.forRootAsync({
          imports: [ConfigModule],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            secret: config.getOrThrow<string>('POCKETSFLOW_WEBHOOK_SECRET'),
            path: config.get<string>('POCKETSFLOW_WEBHOOK_PATH'),
            logger: quiet,
          }),
        }),
      ],
      providers: [Handlers],
    })
    class AppModule {}

    for (const platform of PLATFORMS) {
      calls.length = 0
      const app = await boot(platform, AppModule)
      expect((await app.post(await sign(), '/from-config')).status).toBe(200)
      expect((await app.post(await sign({ secret: 'whsec_other' }), '/from-config')).status).toBe(401)
      await vi.waitFor(() => expect(calls).toEqual(['grant']))
      await app.close()
    }
  })

  it('takes a useClass options factory and the extras next to it', async () => {
    @Injectable()
    class WebhookConfig {
      create(): PocketsflowWebhookModuleOptions {
        return { secret: SECRET, logger: quiet }
      }
    }

    @Module({
      imports: [PocketsflowWebhookModule.forRootAsync({ useClass: WebhookConfig, decorators: [Public()] })],
      providers: [{ provide: APP_GUARD, useClass: AuthGuard }],
    })
    class AppModule {}

    const app = await boot('express', AppModule)
    expect((await app.post(await sign())).status).toBe(200)
  })
})

describe.each(PLATFORMS)('shutdown on %s', (platform: Platform) => {
  it('app.close() answers 503 from then on and waits for running handlers', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const steps: string[] = []

    @Injectable()
    class Slow {
      @OnPocketsflowEvent('order.completed')
      async work() {
        steps.push('started')
        await gate
        steps.push('finished')
      }
    }

    @Module({ imports: [forRoot()], providers: [Slow] })
    class AppModule {}

    const app = await boot(platform, AppModule)
    const service = app.app.get(PocketsflowWebhookService)
    expect((await app.post(await sign())).status).toBe(200)
    await vi.waitFor(() => expect(steps).toEqual(['started']))
    let closed = false
    const closing = app.close().then(() => (closed = true))
    await tick()
    // Still listening while it drains, but no longer acknowledging what it could not finish.
    expect((await app.post(await sign())).status).toBe(503)
    expect(closed).toBe(false)
    release()
    await closing
    expect(steps).toEqual(['started', 'finished'])
    await expect(service.receiver.close()).resolves.toBeUndefined()
  })

  it.each(['closeTimeoutMs', 'shutdownTimeoutMs (its former name)'])('%s: aborts a handler that outlives it and reports the event to onError', async (option) => {
    const errors: WebhookHandlerError[] = []

    @Injectable()
    class Stuck {
      @OnPocketsflowEvent('order.completed')
      work(_event: WebhookEvent, ctx: HandlerContext) {
        return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))
      }
    }

    @Module({ imports: [forRoot({ [option.split(' ')[0] as 'closeTimeoutMs']: 50, onError: (e) => void errors.push(e) })], providers: [Stuck] })
    class AppModule {}

    const app = await boot(platform, AppModule)
    expect((await app.post(await sign())).status).toBe(200)
    await tick()
    await app.close()
    expect(errors).toHaveLength(1)
    expect((errors[0]?.cause as Error).name).toBe('WebhookReceiverClosedError')
  })
})
