import {
  ConfigurableModuleBuilder,
  Inject,
  Module,
  Optional,
  type ConfigurableModuleAsyncOptions,
  type DynamicModule,
} from '@nestjs/common'
import { DiscoveryModule, HttpAdapterHost } from '@nestjs/core'
import type { Provider } from '@pocketsflow-webhooks/core'
import { acceptAnyCharset } from './charset.js'
import { createWebhookController } from './controller.js'
import {
  DEFAULT_EXTRAS,
  POCKETSFLOW_WEBHOOK_OPTIONS,
  type PocketsflowWebhookModuleExtras,
  type PocketsflowWebhookModuleOptions,
} from './options.js'
import { PocketsflowWebhookService } from './service.js'

const { ConfigurableModuleClass } = new ConfigurableModuleBuilder<PocketsflowWebhookModuleOptions<Provider>>({
  optionsInjectionToken: POCKETSFLOW_WEBHOOK_OPTIONS,
})
  .setClassMethodName('forRoot')
  .setExtras<PocketsflowWebhookModuleExtras>(DEFAULT_EXTRAS, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal === true,
    imports: [...(definition.imports ?? []), DiscoveryModule],
    controllers: extras.route === false ? [] : [createWebhookController(extras.decorators ?? [])],
    providers: [...(definition.providers ?? []), PocketsflowWebhookService],
    exports: [PocketsflowWebhookService, POCKETSFLOW_WEBHOOK_OPTIONS],
  }))
  .build()

/** Options of `forRootAsync`: a factory (with `inject` and `imports`), a class or an existing provider, plus the extras. */
export type PocketsflowWebhookModuleAsyncOptions<P extends Provider = 'pocketsflow'> = ConfigurableModuleAsyncOptions<
  PocketsflowWebhookModuleOptions<P>
> &
  PocketsflowWebhookModuleExtras

/**
 * Receives webhooks at `path` (default `/webhooks/pocketsflow`) and runs the
 * `@OnPocketsflowEvent` methods of the app after the response. Needs
 * `NestFactory.create(AppModule, { rawBody: true })`.
 * @example
 * ```ts
 * PocketsflowWebhookModule.forRoot({ secret: process.env.POCKETSFLOW_WEBHOOK_SECRET })
 * PocketsflowWebhookModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ secret: config.getOrThrow('POCKETSFLOW_WEBHOOK_SECRET') }),
 * })
 * ```
 */
@Module({})
export class PocketsflowWebhookModule extends ConfigurableModuleClass {
  /**
   * Constructed while Nest creates the application, before `app.init()` mounts the body parsers:
   * on Express, puts the middleware that lets a signed delivery labelled with a charset other than
   * UTF-8 through Nest's JSON parser ahead of them (see charset.ts).
   */
  constructor(
    @Optional() @Inject(HttpAdapterHost) adapterHost?: HttpAdapterHost,
    @Optional() @Inject(POCKETSFLOW_WEBHOOK_OPTIONS) options?: PocketsflowWebhookModuleOptions<Provider>,
  ) {
    super()
    acceptAnyCharset(adapterHost, options?.provider)
  }

  static override forRoot<P extends Provider = 'pocketsflow'>(
    options: PocketsflowWebhookModuleOptions<P> & PocketsflowWebhookModuleExtras,
  ): DynamicModule {
    return super.forRoot(options as unknown as PocketsflowWebhookModuleOptions<Provider>)
  }

  static override forRootAsync<P extends Provider = 'pocketsflow'>(options: PocketsflowWebhookModuleAsyncOptions<P>): DynamicModule {
    return super.forRootAsync(options as unknown as PocketsflowWebhookModuleAsyncOptions<Provider>)
  }
}
