// The hand-written Fastify route the adapter is measured against: a buffer parser scoped to the
// route, a careful check by hand, and the work after the reply.
import { createHmac, timingSafeEqual } from 'node:crypto'
import Fastify from 'fastify'
import { handle, PATH, SECRET } from './load.mjs'

const app = Fastify({ logger: false })
await app.register(async (scope) => {
  scope.removeAllContentTypeParsers()
  scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_request, body, done) => done(null, body))
  scope.post(PATH, (request, reply) => {
    const signature = request.headers['x-pocketsflow-signature']
    const timestamp = Number(request.headers['x-pocketsflow-timestamp'])
    if (typeof signature !== 'string' || !(Math.abs(Date.now() - timestamp) <= 300_000)) return reply.code(401).send({ error: 'invalid signature' })
    const expected = createHmac('sha256', SECRET).update(request.body).digest()
    const given = Buffer.from(signature, 'hex')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return reply.code(401).send({ error: 'invalid signature' })
    let event
    try {
      event = JSON.parse(request.body.toString('utf8'))
    } catch {
      return reply.code(400).send({ error: 'invalid payload' })
    }
    reply.raw.once('close', () => handle(event))
    return reply.code(200).send({ received: true })
  })
})
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })
console.log('ready')
