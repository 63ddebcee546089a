import 'reflect-metadata'
import type { INestApplication, NestApplicationOptions } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { AppModule } from './app.module.js'

export async function createApp(options: NestApplicationOptions = {}): Promise<INestApplication> {
  // rawBody: the signature is computed over the exact bytes Pocketsflow sent, which Nest keeps
  // in req.rawBody only when asked.
  const app = await NestFactory.create(AppModule, { rawBody: true, ...options })
  // SIGTERM / SIGINT: stop acknowledging deliveries (503) and let running handlers finish.
  app.enableShutdownHooks()
  return app
}
