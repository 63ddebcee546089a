import { parseArgs } from 'node:util'
import type { DeadLetter, WebhookInbox } from '@pocketsflow-webhooks/core'
import { bold, dim, EXIT, green, red, UsageError, yellow } from '../output.js'
import { positiveNumber } from './common.js'

export const inboxHelp = `Usage: pocketsflow-webhooks inbox <list|replay> [options]

Dead letters of a durable inbox: events whose handlers failed their last attempt. They keep
their payload and last error until replayed.

Commands:
  inbox list                 list dead letters, newest first
  inbox replay <id> [id…]    queue dead letters again (attempts start from 1); --all for every one

Where the inbox is (one of):
  --redis URL                a bullmqInbox's Redis (also --queue NAME, --prefix PREFIX if you changed them)
  --postgres URL             a postgresInbox's database (also --table NAME, --schema NAME)

Options:
  --limit N                  list at most N (default 50)
  --json                     one JSON object per line (id, type, attempts, lastError, failedAt, payload)
  --all                      replay: every dead letter (up to --limit)

The inbox package must be installed where the command runs (npx -p @pocketsflow-webhooks/cli
-p @pocketsflow-webhooks/redis pocketsflow-webhooks inbox list --redis URL).

Exit codes: 0 done (an empty list too), 1 replay found no dead letter with an id, 2 usage error,
3 the inbox could not be reached.`

/** How long the command waits for the inbox before saying it is unreachable. */
const REACH_TIMEOUT_MS = 10_000

export async function inboxCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      redis: { type: 'string' },
      postgres: { type: 'string' },
      queue: { type: 'string' },
      prefix: { type: 'string' },
      table: { type: 'string' },
      schema: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      all: { type: 'boolean' },
    },
    strict: true,
  })
  const [action, ...ids] = positionals
  if (action !== 'list' && action !== 'replay') throw new UsageError(`inbox needs "list" or "replay", got ${JSON.stringify(action ?? '')}`)
  if (action === 'list' && ids.length > 0) throw new UsageError('inbox list takes no ids')
  if (action === 'replay' && ids.length === 0 && !values.all) throw new UsageError('inbox replay needs one or more ids, or --all')
  if (action === 'replay' && ids.length > 0 && values.all) throw new UsageError('inbox replay takes ids or --all, not both')
  if (Boolean(values.redis) === Boolean(values.postgres)) throw new UsageError('pass exactly one of --redis URL or --postgres URL')
  if (values.redis && (values.table || values.schema)) throw new UsageError('--table and --schema are for --postgres')
  if (values.postgres && (values.queue || values.prefix)) throw new UsageError('--queue and --prefix are for --redis')
  const limit = positiveNumber('--limit', values.limit, 50)
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a whole number >= 1, got ${JSON.stringify(values.limit)}`)

  const inbox = await openInbox(values)
  if (typeof inbox === 'number') return inbox
  try {
    if (action === 'list') {
      const letters = await reach(inbox.deadLetters({ limit }))
      if (values.json) for (const letter of letters) console.log(JSON.stringify(asJson(letter)))
      else printList(letters)
      return EXIT.ok
    }
    const targets = values.all ? (await reach(inbox.deadLetters({ limit }))).map((letter) => letter.id) : ids
    let missing = 0
    for (const id of targets) {
      const replayed = await reach(inbox.replay(id))
      if (replayed) console.log(`${green('queued again')} ${id}`)
      else {
        missing++
        console.log(`${red('no dead letter')} ${id}`)
      }
    }
    if (values.all && targets.length === 0) console.log('no dead letters')
    return missing > 0 ? EXIT.failed : EXIT.ok
  } catch (error) {
    console.error(`${red('error:')} the inbox could not be reached: ${(error as Error).message}`)
    return EXIT.unreachable
  } finally {
    await inbox.close({ timeoutMs: 1000 }).catch(() => {})
  }
}

interface Where {
  redis?: string | undefined
  postgres?: string | undefined
  queue?: string | undefined
  prefix?: string | undefined
  table?: string | undefined
  schema?: string | undefined
}

// The engines are optional: a user of one should not download the other's drivers.
async function openInbox(where: Where): Promise<WebhookInbox | number> {
  const name = where.redis ? '@pocketsflow-webhooks/redis' : '@pocketsflow-webhooks/postgres'
  let engine: Record<string, unknown>
  try {
    engine = (await import(name)) as Record<string, unknown>
  } catch {
    console.error(`${red('error:')} ${name} is not installed here. Install it next to the CLI, or run:\n  npx -p @pocketsflow-webhooks/cli -p ${name} pocketsflow-webhooks inbox …`)
    return EXIT.usage
  }
  const silent = { debug() {}, info() {}, warn() {}, error() {} }
  try {
    if (where.redis) {
      const bullmqInbox = engine['bullmqInbox'] as (options: object) => WebhookInbox
      return bullmqInbox({
        connection: { url: where.redis },
        ...(where.queue ? { queueName: where.queue } : {}),
        ...(where.prefix ? { prefix: where.prefix } : {}),
        logger: silent,
      })
    }
    const postgresInbox = engine['postgresInbox'] as (options: object) => WebhookInbox
    return postgresInbox({
      connectionString: where.postgres,
      ...(where.table ? { table: where.table } : {}),
      ...(where.schema ? { schema: where.schema } : {}),
      // Listing must not create tables in a database that has none.
      createTable: false,
      logger: silent,
    })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
}

function reach<T>(work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${REACH_TIMEOUT_MS / 1000} s`)), REACH_TIMEOUT_MS)
  })
  return Promise.race([work, limit]).finally(() => clearTimeout(timer))
}

function asJson(letter: DeadLetter) {
  return {
    id: letter.id,
    type: letter.type,
    attempts: letter.attempts,
    lastError: letter.lastError ?? null,
    failedAt: letter.failedAt.toISOString(),
    payload: letter.event.payload,
  }
}

function printList(letters: DeadLetter[]): void {
  if (letters.length === 0) {
    console.log(green('no dead letters'))
    return
  }
  console.log(bold(`${letters.length} dead letter${letters.length === 1 ? '' : 's'}, newest first`))
  for (const letter of letters) {
    console.log(`${yellow(letter.id)}  ${letter.type}  ${letter.attempts} attempt${letter.attempts === 1 ? '' : 's'}  ${dim(letter.failedAt.toISOString())}`)
    if (letter.lastError) console.log(`  ${red('last error:')} ${oneLine(letter.lastError)}`)
  }
  console.log(dim('replay one with: pocketsflow-webhooks inbox replay <id> (same --redis/--postgres flags)'))
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim()
  return line.length > 200 ? `${line.slice(0, 197)}...` : line
}
