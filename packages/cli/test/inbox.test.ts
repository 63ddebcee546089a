// `pocketsflow-webhooks inbox list|replay`, the built binary against real dead letters in the real
// Redis and PostgreSQL (REDIS_URL / DATABASE_URL, the local servers by default).
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import express from 'express'
import pg from 'pg'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { pocketsflowWebhook, type WebhookInbox } from '@pocketsflow-webhooks/express'
import { bullmqInbox } from '@pocketsflow-webhooks/redis'
import { postgresInbox } from '@pocketsflow-webhooks/postgres'

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bin.js')
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
const SECRET = 'whsec_cli_inbox_test'

function run(args: string[]) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

async function until(check: () => Promise<boolean> | boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

interface Engine {
  name: string
  /** The flags that point the CLI at this test's inbox. */
  flags: string[]
  make(): WebhookInbox
  cleanUp(): Promise<void>
}

const suffix = randomUUID().slice(0, 8)
const engines: Engine[] = [
  {
    name: 'redis',
    flags: ['--redis', REDIS_URL, '--queue', `cli-${suffix}`, '--prefix', `pfcli${suffix}`],
    make: () => bullmqInbox({ connection: { url: REDIS_URL }, queueName: `cli-${suffix}`, prefix: `pfcli${suffix}` }),
    async cleanUp() {
      const redis = new Redis(REDIS_URL)
      const keys = await redis.keys(`pfcli${suffix}*`)
      if (keys.length > 0) await redis.del(...keys)
      redis.disconnect()
    },
  },
  {
    name: 'postgres',
    flags: ['--postgres', DATABASE_URL, '--table', `pf_cli_${suffix}`],
    make: () => postgresInbox({ connectionString: DATABASE_URL, table: `pf_cli_${suffix}` }),
    async cleanUp() {
      const client = new pg.Client({ connectionString: DATABASE_URL })
      await client.connect()
      await client.query(`DROP TABLE IF EXISTS "pf_cli_${suffix}"`)
      await client.end()
    },
  },
]

describe.each(engines)('inbox commands on $name', (engine) => {
  let server: ReturnType<ReturnType<typeof express>['listen']>
  let url = ''
  let fixed = false
  const handled: string[] = []
  const receiver = pocketsflowWebhook({
    secret: SECRET,
    logger: false,
    retry: false,
    inbox: engine.make(),
    on: {
      'order.completed': (event) => {
        if (!fixed) throw new Error('the fulfilment service said no')
        handled.push(event.id)
      },
    },
  })

  beforeAll(async () => {
    const app = express()
    app.use(receiver)
    await new Promise<void>((resolve) => (server = app.listen(0, '127.0.0.1', () => resolve())))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/pocketsflow`
  })
  afterAll(async () => {
    server?.close()
    await receiver.close({ timeoutMs: 2000 })
    await engine.cleanUp()
  })

  it('lists dead letters (text and --json), replays them, and says when an id has none', async () => {
    const empty = await run(['inbox', 'list', ...engine.flags])
    expect(empty.code, empty.stderr).toBe(0)
    expect(empty.stdout).toContain('no dead letters')

    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed' })
    expect((await fetch(url, delivery)).status).toBe(200)
    let id = ''
    await until(async () => {
      const listed = await run(['inbox', 'list', '--json', ...engine.flags])
      const line = listed.stdout.trim().split('\n').filter(Boolean)[0]
      if (!line) return false
      const letter = JSON.parse(line) as { id: string; type: string; attempts: number; lastError: string; payload: unknown }
      expect(letter).toMatchObject({ type: 'order.completed', attempts: 1 })
      expect(letter.lastError).toContain('the fulfilment service said no')
      expect(letter.payload).toEqual(JSON.parse(delivery.body))
      id = letter.id
      return true
    }, 'the dead letter')

    const text = await run(['inbox', 'list', ...engine.flags])
    expect(text.stdout).toContain('1 dead letter, newest first')
    expect(text.stdout).toContain(id)
    expect(text.stdout).toContain('last error: ')

    fixed = true
    const replay = await run(['inbox', 'replay', id, ...engine.flags])
    expect(replay.code, replay.stderr).toBe(0)
    expect(replay.stdout).toContain(`queued again ${id}`)
    await until(() => handled.includes(id), 'the replayed event to be handled')
    expect((await run(['inbox', 'list', ...engine.flags])).stdout).toContain('no dead letters')

    const missing = await run(['inbox', 'replay', 'evt_not_there', ...engine.flags])
    expect(missing.code).toBe(1)
    expect(missing.stdout).toContain('no dead letter evt_not_there')
  })
})

describe('inbox command errors', () => {
  it('exit 2 for usage mistakes, with the usage', async () => {
    for (const args of [
      ['inbox'],
      ['inbox', 'list'],
      ['inbox', 'list', '--redis', REDIS_URL, '--postgres', DATABASE_URL],
      ['inbox', 'replay', '--redis', REDIS_URL],
      ['inbox', 'list', 'x', '--redis', REDIS_URL],
      ['inbox', 'list', '--redis', REDIS_URL, '--table', 't'],
      ['inbox', 'list', '--redis', REDIS_URL, '--limit', '0'],
    ]) {
      const r = await run(args)
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr).toContain('Usage: pocketsflow-webhooks inbox')
    }
    const help = await run(['inbox', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('Exit codes')
  })

  it('exit 3 when the inbox cannot be reached', async () => {
    const redis = await run(['inbox', 'list', '--redis', 'redis://127.0.0.1:1'])
    expect(redis.code, redis.stdout + redis.stderr).toBe(3)
    expect(redis.stderr).toContain('could not be reached')
    const postgres = await run(['inbox', 'list', '--postgres', 'postgres://postgres@127.0.0.1:1/test'])
    expect(postgres.code, postgres.stdout + postgres.stderr).toBe(3)
  })
})
