// The hand-written Koa route the adapter is measured against: raw-body plus a careful check.
import { createHmac, timingSafeEqual } from 'node:crypto'
import Koa from 'koa'
import getRawBody from 'raw-body'
import { handle, PATH, SECRET } from './load.mjs'


function reply(ctx, status, body) {
  ctx.status = status
  ctx.body = body // an object: Koa serialises it as application/json
}

const app = new Koa()
app.use(async (ctx, next) => {
  if (ctx.path !== PATH || ctx.method !== 'POST') return next()
  const body = await getRawBody(ctx.req, { limit: '1mb', length: ctx.get('content-length') })
  const signature = ctx.get('x-pocketsflow-signature')
  const timestamp = Number(ctx.get('x-pocketsflow-timestamp'))
  if (!signature || !(Math.abs(Date.now() - timestamp) <= 300_000)) return reply(ctx, 401, { error: 'invalid signature' })
  const expected = createHmac('sha256', SECRET).update(body).digest()
  const given = Buffer.from(signature, 'hex')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return reply(ctx, 401, { error: 'invalid signature' })
  let event
  try {
    event = JSON.parse(body.toString('utf8'))
  } catch {
    return reply(ctx, 400, { error: 'invalid payload' })
  }
  // Koa writes the response after the chain settles: the work waits for it.
  ctx.res.once('close', () => handle(event))
  reply(ctx, 200, { received: true })
})
app.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'))
