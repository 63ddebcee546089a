// Deliveries whose Content-Type names a charset other than UTF-8. The signature covers the bytes,
// so the label does not matter to verification; but on Express, Nest's JSON parser (body-parser)
// refuses such a body before any route runs (latin1 → 415, utf-16 → 400). The module lets signed
// deliveries through that refusal, on its own route and on guarded routes, and leaves every other
// request to the app's parser. Fastify's parser ignores the charset.
import { Body, Controller, Injectable, Module, Post, Req } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import type { NestExpressApplication } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import { Test } from '@nestjs/testing'
import { signWebhook } from '@pocketsflow-webhooks/core'
import { generateSecret, signedRequest } from '@pocketsflow-webhooks/core/testing'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { OnPocketsflowEvent, PocketsflowEvent, PocketsflowWebhook, PocketsflowWebhookModule, type WebhookEvent } from '../src/index.js'
import { boot, closeAll, PATH, PLATFORMS, quiet, SECRET, sign, tick, type Platform } from './helpers.js'

afterEach(closeAll)

/** The labels of the issue: refused or mis-decoded by body-parser, except upper-case UTF-8. */
const LABELS = ['latin1', 'iso-8859-1', 'utf-16', 'x-unknown-charset', 'utf8', 'UTF-8', '"latin1"'] as const
const json = (charset: string) => `application/json; charset=${charset}`
const GUARDED = '/payments/webhook'

function labelled(req: { headers: Record<string, string>; body: string }, contentType: string) {
  return { ...req, headers: { ...req.headers, 'Content-Type': contentType } }
}

/** The module's route, a guarded route of the app's own, and an ordinary JSON route. */
function shop() {
  const handled: WebhookEvent[] = []
  const guarded: { type: string; body: unknown }[] = []

  @Injectable()
  class Orders {
    @OnPocketsflowEvent()
    record(event: WebhookEvent) {
      handled.push(event)
    }
  }

  @Controller()
  class AppController {
    @Post('payments/webhook')
    @PocketsflowWebhook()
    webhook(@PocketsflowEvent() event: WebhookEvent, @Body() body: unknown) {
      guarded.push({ type: event.type, body })
      return { ok: true }
    }

    @Post('orders')
    create(@Body() body: unknown, @Req() req: { rawBody?: Buffer }) {
      return { body, rawBody: req.rawBody?.toString('utf8') ?? null }
    }
  }

  @Module({
    imports: [PocketsflowWebhookModule.forRoot({ secret: SECRET, logger: quiet, retry: false })],
    providers: [Orders],
    controllers: [AppController],
  })
  class AppModule {}

  return { AppModule, handled, guarded }
}

describe.each(PLATFORMS)('a charset other than UTF-8 on %s', (platform: Platform) => {
  it.each(LABELS)('the module route acknowledges a signed delivery labelled charset=%s, and the handler runs once', async (charset) => {
    const { AppModule, handled } = shop()
    const app = await boot(platform, AppModule)
    const req = await sign({ overrides: { customer: { email: 'label@example.com' } } })
    const res = await app.post(labelled(req, json(charset)))
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ received: true })
    await vi.waitFor(() => expect(handled).toHaveLength(1))
    await tick()
    expect(handled).toHaveLength(1)
    expect((handled[0]?.data as { customer: { email: string } }).customer.email).toBe('label@example.com')
  })

  it.each(LABELS)('the guard lets a signed delivery labelled charset=%s through, with the payload in @Body()', async (charset) => {
    const { AppModule, guarded } = shop()
    const app = await boot(platform, AppModule)
    const req = await sign()
    const res = await app.post(labelled(req, json(charset)), GUARDED)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ ok: true })
    expect(guarded).toEqual([{ type: 'order.completed', body: JSON.parse(req.body) }])
  })

  it.each([
    ['a tampered body', async () => {
      const req = await sign()
      return { ...req, body: req.body.replace('example.com', 'evil.example') }
    }],
    ['the wrong secret', () => sign({ secret: 'whsec_not_the_one' })],
  ])('answers 401 to a delivery with %s labelled charset=latin1, and runs nothing', async (_label, make) => {
    const { AppModule, handled, guarded } = shop()
    const app = await boot(platform, AppModule)
    const forged = labelled(await make(), json('latin1'))
    expect((await app.post(forged)).status).toBe(401)
    expect((await app.post(forged, GUARDED)).status).toBe(401)
    await tick()
    expect(handled).toEqual([])
    expect(guarded).toEqual([])
  })

  it('verifies the bytes as they are: a body that is really Latin-1 is accepted and read as UTF-8, like any JSON', async () => {
    const { AppModule, handled } = shop()
    const app = await boot(platform, AppModule)
    const body = Buffer.from('{"event":"order.completed","note":"café"}', 'latin1') // é is the single byte 0xE9
    const headers = await signWebhook({ secret: SECRET, body: new Uint8Array(body), type: 'order.completed' })
    const res = await fetch(app.url(), { method: 'POST', headers: { ...headers, 'Content-Type': json('latin1') }, body })
    expect(res.status).toBe(200)
    await vi.waitFor(() => expect(handled).toHaveLength(1))
    expect((handled[0]?.data as { note: string }).note).toBe('caf\uFFFD')
  })

  it('leaves the app’s own JSON routes to the app’s parser', async () => {
    const { AppModule } = shop()
    const app = await boot(platform, AppModule)
    const utf8 = await app.post({ headers: { 'Content-Type': 'application/json' }, body: '{"item":"thé"}' }, '/orders')
    expect(utf8.status).toBe(201)
    expect(await utf8.json()).toEqual({ body: { item: 'thé' }, rawBody: '{"item":"thé"}' })
    // Without a signature header, a latin1 label gets the parser's answer as before: body-parser's
    // 415 on Express; Fastify's parser ignores the label.
    const latin1 = await app.post({ headers: { 'Content-Type': json('latin1') }, body: '{"item":"tea"}' }, '/orders')
    if (platform === 'express') {
      expect(latin1.status).toBe(415)
      expect(await latin1.json()).toMatchObject({ statusCode: 415, message: 'unsupported charset "LATIN1"' })
    } else {
      expect(latin1.status).toBe(201)
      expect(await latin1.json()).toEqual({ body: { item: 'tea' }, rawBody: '{"item":"tea"}' })
    }
  })

  it('an unsigned request to the webhook route still gets the parser’s answer on Express, the core’s 401 on Fastify', async () => {
    const { AppModule, handled } = shop()
    const app = await boot(platform, AppModule)
    const { 'X-Pocketsflow-Signature': _omit, ...headers } = (await sign()).headers
    const res = await app.post({ headers: { ...headers, 'Content-Type': json('latin1') }, body: (await sign()).body })
    expect(res.status).toBe(platform === 'express' ? 415 : 401)
    await tick()
    expect(handled).toEqual([])
  })

  it('works in an app built with Test.createTestingModule (as in e2e tests)', async () => {
    const { AppModule, handled } = shop()
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile()
    const app =
      platform === 'express'
        ? moduleRef.createNestApplication({ rawBody: true, logger: false })
        : moduleRef.createNestApplication(new FastifyAdapter(), { rawBody: true, logger: false })
    try {
      await app.listen(0, '127.0.0.1')
      const { port } = app.getHttpServer().address() as AddressInfo
      const req = labelled(await sign(), json('latin1'))
      expect((await fetch(`http://127.0.0.1:${port}${PATH}`, { method: 'POST', ...req })).status).toBe(200)
      await vi.waitFor(() => expect(handled).toHaveLength(1))
    } finally {
      await app.close()
    }
  })

  it('covers every declaration of the module, whatever its signature scheme', async () => {
    const standardSecret = generateSecret('standard-webhooks')
    const seen: string[] = []
    @Module({
      imports: [
        PocketsflowWebhookModule.forRoot({ secret: SECRET, logger: quiet, onEvent: (e) => void seen.push(e.provider) }),
        PocketsflowWebhookModule.forRoot({
          secret: standardSecret,
          provider: 'standard-webhooks',
          path: '/webhooks/other',
          logger: quiet,
          onEvent: (e) => void seen.push(e.provider),
        }),
      ],
    })
    class AppModule {}
    const app = await boot(platform, AppModule)
    expect((await app.post(labelled(await sign(), json('latin1')))).status).toBe(200)
    const other = await signedRequest({ provider: 'standard-webhooks', secret: standardSecret, type: 'invoice.paid' })
    expect((await app.post(labelled(other, json('latin1')), '/webhooks/other')).status).toBe(200)
    await vi.waitFor(() => expect(seen.sort()).toEqual(['pocketsflow', 'standard-webhooks']))
  })
})

describe('Express specifics', () => {
  it('still applies after app.useBodyParser() replaced Nest’s JSON parser', async () => {
    const { AppModule, handled } = shop()
    const app = await boot('express', AppModule, {
      configure: (a) => (a as NestExpressApplication).useBodyParser('json', { limit: '1mb' }),
    })
    const big = await sign({ overrides: { padding: 'x'.repeat(200_000) } })
    expect((await app.post(labelled(big, json('latin1')))).status).toBe(200)
    await vi.waitFor(() => expect(handled).toHaveLength(1))
  })

  it('still applies with bodyParser: false and the JSON parser mounted by the app', async () => {
    const { AppModule, handled } = shop()
    const app = await NestFactory.create<NestExpressApplication>(AppModule, { bodyParser: false, rawBody: true, logger: false })
    try {
      app.useBodyParser('json')
      await app.listen(0, '127.0.0.1')
      const { port } = app.getHttpServer().address() as AddressInfo
      const req = labelled(await sign(), json('utf-16'))
      expect((await fetch(`http://127.0.0.1:${port}${PATH}`, { method: 'POST', ...req })).status).toBe(200)
      await vi.waitFor(() => expect(handled).toHaveLength(1))
    } finally {
      await app.close()
    }
  })
})
