// The module's route on Express and Fastify, over real HTTP: every status the core can answer.
import { Injectable, Module } from '@nestjs/common'
import type { NestExpressApplication } from '@nestjs/platform-express'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  OnPocketsflowEvent,
  PocketsflowWebhookModule,
  type WebhookInbox,
  type PocketsflowEvent,
  type PocketsflowWebhookModuleOptions,
  type WebhookEvent,
} from '../src/index.js'
import type { InboxProcessor } from '@pocketsflow-webhooks/core/inbox'
import { rejectedDeliveries } from '@pocketsflow-webhooks/core/testing'
import { boot, closeAll, PLATFORMS, quiet, recordingLogger, SECRET, sign, tick, type Platform } from './helpers.js'

afterEach(closeAll)

const REJECTED = await rejectedDeliveries({ secret: SECRET })

interface Seen {
  type: string
  id: string
  email?: string | undefined
}

/** An app with a provider whose methods record what they receive. */
function shop(options: Partial<PocketsflowWebhookModuleOptions> = {}) {
  const seen: Seen[] = []
  const paid: string[] = []

  @Injectable()
  class Orders {
    @OnPocketsflowEvent('order.completed')
    grantAccess(event: PocketsflowEvent<'order.completed'>) {
      paid.push(event.data.customer.email)
    }

    @OnPocketsflowEvent()
    record(event: WebhookEvent) {
      seen.push({ type: event.type, id: event.id, email: (event.data as { customer?: { email?: string } }).customer?.email })
    }
  }

  @Module({
    imports: [PocketsflowWebhookModule.forRoot({ secret: SECRET, logger: quiet, retry: false, ...options })],
    providers: [Orders],
  })
  class AppModule {}

  return { AppModule, seen, paid }
}

describe.each(PLATFORMS)('PocketsflowWebhookModule on %s', (platform: Platform) => {
  it('acknowledges a valid delivery with 200 and hands the typed event to the decorated methods', async () => {
    const { AppModule, seen, paid } = shop()
    const app = await boot(platform, AppModule)
    const res = await app.post(await sign({ overrides: { customer: { email: 'a@example.com' } } }))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(await res.text()).toBe('{"received":true}')
    await vi.waitFor(() => expect(seen).toEqual([{ type: 'order.completed', id: expect.any(String), email: 'a@example.com' }]))
    expect(paid).toEqual(['a@example.com'])
  })

  it('acknowledges a duplicate with 200 and does not run the handlers again', async () => {
    const { AppModule, seen } = shop()
    const app = await boot(platform, AppModule)
    const req = await sign()
    expect((await app.post(req)).status).toBe(200)
    const res = await app.post(req)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ received: true, duplicate: true })
    await tick()
    expect(seen).toHaveLength(1)
  })

  it.each(REJECTED.map((d) => [d.label, async () => d.request] as const))('rejects a %s with 401 and runs nothing', async (_label, make) => {
    const { AppModule, seen } = shop()
    const app = await boot(platform, AppModule)
    const res = await app.post(await make())
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({ error: 'invalid signature' })
    await tick()
    expect(seen).toEqual([])
  })

  it('accepts timestamps in milliseconds and in seconds', async () => {
    const { AppModule } = shop()
    const app = await boot(platform, AppModule)
    for (const timestampUnit of ['ms', 's'] as const) {
      expect((await app.post(await sign({ timestampUnit }))).status).toBe(200)
    }
  })

  it('answers 405 with Allow: POST for other methods on its path', async () => {
    const { AppModule } = shop()
    const app = await boot(platform, AppModule)
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(app.url(), { method })
      expect(res.status, method).toBe(405)
      expect(res.headers.get('allow')).toBe('POST')
      expect(await res.json()).toEqual({ error: 'method not allowed' })
    }
    expect((await fetch(app.url('/elsewhere'), { method: 'POST', body: '{}' })).status).toBe(404)
  })

  it('answers 413 for a body over bodyLimit', async () => {
    const { AppModule, seen } = shop({ bodyLimit: 1024 })
    const app = await boot(platform, AppModule)
    const res = await app.post(await sign({ overrides: { padding: 'x'.repeat(4096) } }))
    expect(res.status).toBe(413)
    expect(await res.json()).toEqual({ error: 'payload too large' })
    await tick()
    expect(seen).toEqual([])
  })

  it('answers 400 for signed but malformed JSON', async () => {
    const { AppModule, seen } = shop()
    const app = await boot(platform, AppModule)
    const res = await app.post(await sign({ body: '{"event":"order.completed",' }))
    expect(res.status).toBe(400)
    await tick()
    expect(seen).toEqual([])
  })

  it('acknowledges a signed body that is JSON but not an event, and gives it to the catch-all as untyped', async () => {
    const { AppModule, seen, paid } = shop()
    const app = await boot(platform, AppModule)
    const res = await app.post(await sign({ body: '[1,2,3]', type: undefined }))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ received: true })
    await vi.waitFor(() => expect(seen.map((s) => s.type)).toEqual(['unknown']))
    expect(paid).toEqual([])
  })

  it('acknowledges an unknown event type and gives it to the catch-all only', async () => {
    const { AppModule, seen, paid } = shop()
    const app = await boot(platform, AppModule)
    expect((await app.post(await sign({ type: 'payout.sent' }))).status).toBe(200)
    await vi.waitFor(() => expect(seen.map((s) => s.type)).toEqual(['payout.sent']))
    expect(paid).toEqual([])
  })

  it('accepts deliveries signed with either secret during a rotation', async () => {
    const { AppModule } = shop({ secret: ['whsec_new_secret', SECRET] })
    const app = await boot(platform, AppModule)
    expect((await app.post(await sign())).status).toBe(200)
    expect((await app.post(await sign({ secret: 'whsec_new_secret' }))).status).toBe(200)
    expect((await app.post(await sign({ secret: 'whsec_retired_long_ago' }))).status).toBe(401)
  })

  it('puts the 200 on the wire before a slow handler finishes', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    const steps: string[] = []

    @Injectable()
    class Slow {
      @OnPocketsflowEvent('order.completed')
      async work() {
        steps.push('handler started')
        await gate // stands for 5 s of work
        steps.push('handler finished')
      }
    }
    @Module({ imports: [PocketsflowWebhookModule.forRoot({ secret: SECRET, logger: quiet })], providers: [Slow] })
    class AppModule {}

    const app = await boot(platform, AppModule)
    const res = await app.post(await sign())
    steps.push(`response ${res.status}`)
    expect(steps).not.toContain('handler finished')
    release()
    await vi.waitFor(() => expect(steps).toContain('handler finished'))
    expect(steps.indexOf('response 200')).toBeLessThan(steps.indexOf('handler finished'))
  })

  it('without rawBody: true, answers 500 and logs what to set, never a silent 401', async () => {
    const { lines, logger } = recordingLogger()
    const { AppModule, seen } = shop({ logger })
    const app = await boot(platform, AppModule, { rawBody: false })
    const res = await app.post(await sign())
    expect(res.status).toBe(500)
    expect(await res.json()).toEqual({ error: 'webhook receiver misconfigured' })
    const error = lines.find((l) => l.level === 'error')
    expect(error?.msg).toContain('NestFactory.create(AppModule, { rawBody: true })')
    await tick()
    expect(seen).toEqual([])
  })

  it('reads bodies no Nest parser handles (text/plain) itself', async () => {
    const { AppModule, seen } = shop()
    const app = await boot(platform, AppModule)
    const req = await sign()
    const res = await app.post({ ...req, headers: { ...req.headers, 'Content-Type': 'text/plain' } })
    expect(res.status).toBe(200)
    await vi.waitFor(() => expect(seen).toHaveLength(1))
    const tampered = await sign()
    expect((await app.post({ headers: { ...tampered.headers, 'Content-Type': 'text/plain' }, body: `${tampered.body} ` })).status).toBe(401)
  })

  it('honours a custom path and stays version-neutral under URI versioning', async () => {
    const { AppModule } = shop({ path: '/hooks/pf/' })
    const { VersioningType } = await import('@nestjs/common')
    const app = await boot(platform, AppModule, { configure: (a) => a.enableVersioning({ type: VersioningType.URI, defaultVersion: '1' }) })
    expect((await app.post(await sign(), '/hooks/pf')).status).toBe(200)
    expect((await app.post(await sign(), '/webhooks/pocketsflow')).status).toBe(404)
  })

  it('sits under the global prefix like any route', async () => {
    const { AppModule } = shop()
    const app = await boot(platform, AppModule, { configure: (a) => a.setGlobalPrefix('api') })
    expect((await app.post(await sign(), '/api/webhooks/pocketsflow')).status).toBe(200)
  })
})

describe('PocketsflowWebhookModule configuration', () => {
  it('fails NestFactory.create with the core message when the secret is missing', async () => {
    @Module({ imports: [PocketsflowWebhookModule.forRoot({ secret: undefined, logger: quiet })] })
    class AppModule {}
    await expect(boot('express', AppModule)).rejects.toThrow(/POCKETSFLOW_WEBHOOK_SECRET/)
  })

  it('fails at start-up for a path that does not start with /', async () => {
    @Module({ imports: [PocketsflowWebhookModule.forRoot({ secret: SECRET, path: 'webhooks', logger: quiet })] })
    class AppModule {}
    await expect(boot('express', AppModule)).rejects.toThrow(/"path" must start with "\/"/)
  })

  it('fails NestFactory.create itself, before app.init(), for any receiver option the core refuses', async () => {
    const { NestFactory } = await import('@nestjs/core')
    for (const bad of [{ bodyLimit: 0 }, { storeTimeoutMs: -1 }, { handlerTimeoutMs: 0 }]) {
      @Module({ imports: [PocketsflowWebhookModule.forRoot({ secret: SECRET, logger: quiet, ...bad })] })
      class AppModule {}
      await expect(NestFactory.create(AppModule, { logger: false, abortOnError: false })).rejects.toThrow(new RegExp(Object.keys(bad)[0] as string))
    }
  })

  it('with a durable inbox: records before the 200, and the decorated methods run from its workers', async () => {
    const recorded = new Map<string, WebhookEvent>()
    let processor: InboxProcessor | undefined
    const inbox: WebhookInbox = {
      record: async (event) => !recorded.has(event.id) && Boolean(recorded.set(event.id, event)),
      start: (p) => void (processor = p),
      close: async () => {},
      deadLetters: async () => [],
      replay: async () => false,
    }
    const { AppModule, paid } = shop({ inbox })
    const app = await boot('express', AppModule)
    const req = await sign({ overrides: { customer: { email: 'durable@example.com' } } })
    expect((await app.post(req)).status).toBe(200)
    expect(await (await app.post(req)).json()).toEqual({ received: true, duplicate: true })
    expect(recorded.size).toBe(1)
    await tick()
    // Nothing ran in the request: the inbox's worker does it.
    expect(paid).toEqual([])
    const [event] = recorded.values()
    expect(await processor?.run({ event: event as WebhookEvent, attempt: 1 })).toEqual({ ok: true })
    expect(paid).toEqual(['durable@example.com'])
  })

  it('route: false registers no route', async () => {
    @Module({ imports: [PocketsflowWebhookModule.forRoot({ secret: SECRET, logger: quiet, route: false })] })
    class AppModule {}
    const app = await boot('express', AppModule)
    expect((await app.post(await sign())).status).toBe(404)
  })
})

describe('platform specifics (documented in the README)', () => {
  const big = () => sign({ overrides: { padding: 'x'.repeat(200_000) } })

  it('Express: body-parser’s 100 kB JSON limit answers first; app.useBodyParser raises it and keeps rawBody', async () => {
    const { AppModule } = shop()
    const strict = await boot('express', AppModule)
    expect((await strict.post(await big())).status).toBe(413)
    await strict.close()
    const roomy = await boot('express', AppModule, {
      configure: (app) => (app as NestExpressApplication).useBodyParser('json', { limit: '1mb' }),
    })
    expect((await roomy.post(await big())).status).toBe(200)
  })

  it('Express: reads a body without Content-Type itself', async () => {
    const { AppModule } = shop()
    const app = await boot('express', AppModule)
    const req = await sign()
    const { 'Content-Type': _omit, ...headers } = req.headers
    const res = await fetch(app.url(), { method: 'POST', headers, body: new TextEncoder().encode(req.body) })
    expect(res.status).toBe(200)
  })

  it.each(PLATFORMS)('%s: bodyParser: false works on Express; on Fastify its own JSON parser keeps no bytes (500)', async (platform) => {
    const { AppModule } = shop()
    const { NestFactory } = await import('@nestjs/core')
    const { FastifyAdapter } = await import('@nestjs/platform-fastify')
    const options = { bodyParser: false, rawBody: true, logger: false as const }
    const app =
      platform === 'express'
        ? await NestFactory.create(AppModule, options)
        : await NestFactory.create(AppModule, new FastifyAdapter(), options)
    try {
      await app.listen(0, '127.0.0.1')
      const { port } = app.getHttpServer().address() as { port: number }
      const req = await sign()
      const res = await fetch(`http://127.0.0.1:${port}/webhooks/pocketsflow`, req)
      // Express: nothing read the body, the route does. Fastify: its built-in JSON parser did.
      expect(res.status).toBe(platform === 'express' ? 200 : 500)
    } finally {
      await app.close()
    }
  })

  it('Fastify: a signed body with a __proto__ key is refused by Fastify unless told to remove it', async () => {
    const { AppModule, seen } = shop()
    const body = '{"event":"order.completed","__proto__":{"admin":true},"customer":{"email":"p@example.com"}}'
    const strict = await boot('fastify', AppModule)
    expect((await strict.post(await sign({ body }))).status).toBe(400)
    await strict.close()

    const { NestFactory } = await import('@nestjs/core')
    const { FastifyAdapter } = await import('@nestjs/platform-fastify')
    const app = await NestFactory.create(AppModule, new FastifyAdapter({ onProtoPoisoning: 'remove', onConstructorPoisoning: 'remove' }), {
      rawBody: true,
      logger: false,
    })
    try {
      await app.listen(0, '127.0.0.1')
      const { port } = app.getHttpServer().address() as { port: number }
      expect((await fetch(`http://127.0.0.1:${port}/webhooks/pocketsflow`, await sign({ body }))).status).toBe(200)
      await vi.waitFor(() => expect(seen.map((s) => s.email)).toEqual(['p@example.com']))
    } finally {
      await app.close()
    }
  })

  it.each(PLATFORMS)('%s: setGlobalPrefix with exclude keeps the route at its path', async (platform) => {
    const { AppModule } = shop()
    const app = await boot(platform, AppModule, { configure: (a) => a.setGlobalPrefix('api', { exclude: ['webhooks/pocketsflow'] }) })
    expect((await app.post(await sign())).status).toBe(200)
    expect((await fetch(app.url(), { method: 'GET' })).status).toBe(405)
  })
})
