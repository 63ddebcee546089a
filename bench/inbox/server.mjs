// The Express adapter with the inbox named by INBOX (memory, bullmq, postgres), handlers in the same
// process (the default set-up). Each run uses its own queue or table and removes it on SIGTERM.
import express from 'express'
import { pocketsflowWebhook } from '@pocketsflow-webhooks/express'
import { bullmqInbox } from '@pocketsflow-webhooks/redis'
import { postgresInbox } from '@pocketsflow-webhooks/postgres'
import { handle, SECRET } from '../http/load.mjs'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const name = `pf_bench_${process.pid}`
const kind = process.env.INBOX ?? 'memory'
const inbox =
  kind === 'bullmq'
    ? bullmqInbox({ connection: { url: REDIS_URL }, queueName: name, prefix: name })
    : kind === 'postgres'
      ? postgresInbox({ connectionString: DATABASE_URL, table: name })
      : undefined

const receiver = pocketsflowWebhook({ secret: SECRET, logger: false, ...(inbox ? { inbox } : {}), on: { 'order.completed': handle } })
const app = express()
app.use(receiver)
const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'))

process.on('SIGTERM', async () => {
  server.close()
  await receiver.close({ timeoutMs: 5000 })
  await cleanUp()
  process.exit(0)
})

async function cleanUp() {
  if (kind === 'postgres') {
    const { default: pg } = await import('pg')
    const client = new pg.Client({ connectionString: DATABASE_URL })
    await client.connect()
    await client.query(`DROP TABLE IF EXISTS "${name}"`)
    await client.end()
  } else if (kind === 'bullmq') {
    const { Redis } = await import('ioredis')
    const redis = new Redis(REDIS_URL)
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${name}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await redis.del(...keys)
    } while (cursor !== '0')
    redis.disconnect()
  }
}
