// The charset relabelling (src/charset.ts) on the Express platform against the app's own middleware:
// it runs ahead of every parser and middleware and only drops a label, so a request carrying the
// sender's signature header, unsigned, gets through nothing it would not get through without the
// label (here: main.ts mounts its own JSON parser, then an auth middleware). An earlier design that
// cleared the parser's error resumed the chain past that auth middleware.
import { Body, Controller, Get, Module, Post } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import type { NestExpressApplication } from '@nestjs/platform-express'
import { request as httpRequest } from 'node:http'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { PocketsflowWebhookModule } from '../src/index.js'
import { quiet, SECRET } from './helpers.js'

// The app's Express, as Nest's adapter loads it (Nest 12, or 11 under the nestjs@11 project).
const fromAdapter = createRequire(createRequire(import.meta.url).resolve('@nestjs/platform-express'))
const { json } = fromAdapter('express') as { json: (options?: object) => (req: unknown, res: unknown, next: () => void) => void }

type Req = { headers: Record<string, string | undefined> }
type Res = { status(code: number): { json(body: unknown): void } }

const apps: NestExpressApplication[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close().catch(() => {})))
})

/** The app's own auth, mounted in main.ts after its JSON parser. */
function requireAdmin(req: Req, res: Res, next: () => void): void {
  if (req.headers['authorization'] !== 'Bearer admin-token') return void res.status(401).json({ error: 'auth required' })
  next()
}

const MAIN_TS = [
  ['app.useBodyParser("json", { limit }) then app.use("/admin", auth)', {}, (app: NestExpressApplication) => {
    app.useBodyParser('json', { limit: '10mb' })
    app.use('/admin', requireAdmin)
  }],
  ['bodyParser: false, app.use(json()) then app.use("/admin", auth)', { bodyParser: false }, (app: NestExpressApplication) => {
    app.use(json())
    app.use('/admin', requireAdmin)
  }],
] as const

/** fetch() refuses a GET with a body; Node's http does not. */
function send(method: string, url: string, headers: Record<string, string>, body: string) {
  return new Promise<number>((resolve, reject) => {
    const req = httpRequest(url, { method, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end(body)
  })
}

describe('NestJS on Express: the charset recovery and the app’s own middleware', () => {
  it.each(MAIN_TS)('with %s, a fake signature header does not get an unauthenticated request past the auth middleware', async (_setup, options, mainTs) => {
    const calls: string[] = []
    @Controller('admin')
    class AdminController {
      @Get('secret')
      secret() {
        calls.push('GET /admin/secret')
        return { secret: 'the admin secret' }
      }
      @Post('users')
      create(@Body() _body: unknown) {
        calls.push('POST /admin/users')
        return { created: true }
      }
    }
    @Module({ imports: [PocketsflowWebhookModule.forRoot({ secret: SECRET, logger: quiet })], controllers: [AdminController] })
    class AppModule {}

    const app = await NestFactory.create<NestExpressApplication>(AppModule, { rawBody: true, logger: false, ...options })
    apps.push(app)
    mainTs(app)
    await app.listen(0, '127.0.0.1')
    const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`

    // Control: without the header, the auth middleware (or the parser) answers, and no route runs.
    expect(await send('POST', `${base}/admin/users`, { 'content-type': 'application/json' }, '{}')).toBe(401)
    expect(await send('POST', `${base}/admin/users`, { 'content-type': 'application/json; charset=latin1' }, '{}')).toBe(415)

    const forged = { 'x-pocketsflow-signature': 'not-a-signature' }
    const statuses = {
      'GET /admin/secret (latin1)': await send('GET', `${base}/admin/secret`, { ...forged, 'content-type': 'application/json; charset=latin1' }, '{}'),
      'POST /admin/users (latin1)': await send('POST', `${base}/admin/users`, { ...forged, 'content-type': 'application/json; charset=latin1' }, '{}'),
      'POST /admin/users (utf-16)': await send('POST', `${base}/admin/users`, { ...forged, 'content-type': 'application/json; charset=utf-16' }, '{}'),
    }
    // Actual: 200 / 201 / 201, and both admin handlers ran.
    expect({ statuses, calls }).toEqual({
      statuses: { 'GET /admin/secret (latin1)': 401, 'POST /admin/users (latin1)': 401, 'POST /admin/users (utf-16)': 401 },
      calls: [],
    })
  })
})
