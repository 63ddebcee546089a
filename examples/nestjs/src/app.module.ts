import { Logger, Module } from '@nestjs/common'
import { ConfigModule, ConfigService } from '@nestjs/config'
import { APP_GUARD } from '@nestjs/core'
import { PocketsflowWebhookModule } from '@pocketsflow-webhooks/nestjs'
import { AccessService } from './access.service.js'
import { AccountController } from './account.controller.js'
import { ApiKeyGuard, Public } from './auth.js'

const logger = new Logger('Webhooks')

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }),
    PocketsflowWebhookModule.forRootAsync({
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        // The signing secret from the Pocketsflow dashboard. A missing one stops the app at start-up.
        secret: config.get<string>('POCKETSFLOW_WEBHOOK_SECRET'),
        onError: (error) => logger.error(`gave up on ${error.event.type} ${error.event.id} after ${error.attempts} attempts`, error.cause),
      }),
      // The global ApiKeyGuard lets the webhook route through: Pocketsflow has no API key, its
      // deliveries are authenticated by their signature.
      decorators: [Public()],
    }),
  ],
  controllers: [AccountController],
  providers: [AccessService, { provide: APP_GUARD, useClass: ApiKeyGuard }],
})
export class AppModule {}
