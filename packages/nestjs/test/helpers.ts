// Real Nest applications on both HTTP platforms, listening on an ephemeral port, driven with fetch.
import 'reflect-metadata'
import type { INestApplication, Type } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import type { AddressInfo } from 'node:net'
import { signedRequest, type SignedRequestOptions } from '@pocketsflow-webhooks/core/testing'

export const SECRET = 'whsec_nestjs_adapter_test'
export const PATH = '/webhooks/pocketsflow'
export const PLATFORMS = ['express', 'fastify'] as const
export type Platform = (typeof PLATFORMS)[number]

export const quiet = { debug() {}, info() {}, warn() {}, error() {} }

/** A logger that records what the receiver says. */
export function recordingLogger() {
  const lines: { level: string; obj: object; msg: string | undefined }[] = []
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg })
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } }
}

export interface Running {
  app: INestApplication
  url: (path?: string) => string
  post: (req: { headers: Record<string, string>; body: string }, path?: string) => Promise<Response>
  close: () => Promise<void>
}

const running = new Set<INestApplication>()

/** Boots `module` on the platform (with `rawBody: true` unless told otherwise) and listens on 127.0.0.1. */
export async function boot(
  platform: Platform,
  module: Type<unknown>,
  options: { rawBody?: boolean; configure?: (app: INestApplication) => void } = {},
): Promise<Running> {
  const appOptions = { rawBody: options.rawBody ?? true, logger: false as const, abortOnError: false }
  const app =
    platform === 'express'
      ? await NestFactory.create(module, appOptions)
      : await NestFactory.create(module, new FastifyAdapter(), appOptions)
  running.add(app)
  options.configure?.(app)
  await app.listen(0, '127.0.0.1')
  const { port } = app.getHttpServer().address() as AddressInfo
  const url = (path = PATH) => `http://127.0.0.1:${port}${path}`
  return {
    app,
    url,
    post: (req, path) => fetch(url(path), { method: 'POST', headers: req.headers, body: req.body }),
    close: async () => {
      running.delete(app)
      await app.close()
    },
  }
}

/** Closes whatever a failed test left running. */
export async function closeAll(): Promise<void> {
  const apps = [...running]
  running.clear()
  await Promise.all(apps.map((app) => app.close().catch(() => {})))
}

export function sign(options: Partial<SignedRequestOptions> = {}) {
  return signedRequest({ secret: SECRET, type: 'order.completed', ...options } as SignedRequestOptions)
}

export const tick = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms))
