// One fault run: a schedule drawn from a seed (deliveries, duplicates, re-sends, handler behaviours,
// store faults through a TCP proxy, process kills), played against real receiver processes
// (receiver.mjs) on the real Redis or PostgreSQL, then checked by the oracle.
import { spawn, type ChildProcess } from 'node:child_process'
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import { signWebhook, verifyWebhook, type DeadLetter } from '@pocketsflow-webhooks/core'
import { bullmqInbox } from '@pocketsflow-webhooks/redis'
import { postgresInbox } from '@pocketsflow-webhooks/postgres'
import { startTcpProxy, throughProxy, type TcpProxy } from '../tcp-proxy.js'
import { checkRun, DURABLE, type Delivery, type HandlerSetup, type JournalEntry, type Mode, type OracleReport, type ProcessLife, type StoreFault } from './oracle.js'

export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379'
export const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
const RECEIVER = join(dirname(fileURLToPath(import.meta.url)), 'receiver.mjs')
const SECRET = 'whsec_fault_suite_secret'
const TYPES = ['order.completed', 'order.refunded'] as const
const TIMEOUT_MS = 300
const LEASE_MS = 1000
const MAX_ATTEMPTS = 3

export type Adapter = 'express' | 'fastify'

export interface RunOptions {
  readonly seed: number
  readonly mode: Mode
  readonly adapter: Adapter
  /** Distinct events (default 20). */
  readonly events?: number
  /** Over how long deliveries and faults are spread (default 3000 ms). */
  readonly durationMs?: number
  /** A deliberately broken double to run instead of the real thing (see receiver.mjs). */
  readonly broken?: string
  /** Default true: SIGKILL (modes with a store) or SIGTERM (in memory) receivers mid-run. */
  readonly processFaults?: boolean
  /** The handlers per type (default: drawn from the seed). */
  readonly handlers?: HandlerSetup
}

export interface RunResult {
  readonly options: RunOptions
  readonly report: OracleReport
  readonly faults: Readonly<Record<string, number>>
  readonly deliveries: number
  /** The one command that plays this run again. */
  readonly replay: string
}

/** mulberry32: a small, seedable PRNG. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Rng = () => number
/** When in an event's life a receiver is killed (or stopped): right after it answered 200, while a handler runs, right after a handler succeeded (before that is recorded), while a failed handler waits for its retry, or at a random moment. */
const MOMENTS = ['after a 200', 'mid-handler', 'after a success', 'in a back-off', 'any time'] as const
type Moment = (typeof MOMENTS)[number]
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)] as T
const between = (rng: Rng, min: number, max: number) => Math.floor(min + rng() * (max - min + 1))
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** What one handler does with an event (see receiver.mjs). */
function behaviour(rng: Rng): Record<string, unknown> {
  const roll = rng()
  if (roll < 0.3) return { kind: 'ok' }
  if (roll < 0.4) return { kind: 'ok', sync: true }
  if (roll < 0.5) return { kind: 'ok', ms: between(rng, 20, 150) }
  if (roll < 0.65) return { kind: 'failN', n: between(rng, 1, 2), ms: between(rng, 0, 30) }
  if (roll < 0.7) return { kind: 'failN', n: 1, sync: true }
  if (roll < 0.76) return { kind: 'nonError', n: between(rng, 1, MAX_ATTEMPTS) }
  if (roll < 0.84) return { kind: 'always', ms: between(rng, 0, 20) }
  if (roll < 0.92) return { kind: 'hang', ms: between(rng, TIMEOUT_MS + 100, TIMEOUT_MS * 3) }
  return { kind: 'failN', n: MAX_ATTEMPTS, ms: 10 }
}

interface Receiver {
  readonly pid: number
  readonly port: number
  readonly child: ChildProcess
  readonly life: { -readonly [K in keyof ProcessLife]: ProcessLife[K] }
  readonly exited: Promise<void>
  output: string
}

export async function runFaults(options: RunOptions): Promise<RunResult> {
  const { seed, mode, adapter } = options
  const rng = random(seed)
  const eventCount = options.events ?? 20
  const durationMs = options.durationMs ?? 3000
  const withStore = mode !== 'memory'
  const durable = DURABLE.has(mode)
  const name = `pfw_faults_${mode.replace('-', '_')}_${seed}_${process.pid}_${Date.now().toString(36)}`
  const dir = mkdtempSync(join(tmpdir(), 'pfw-faults-'))
  const journalFile = join(dir, 'journal.ndjson')
  writeFileSync(journalFile, '')
  const replay = `FAULT_SEED=${seed} FAULT_MODE=${mode} FAULT_ADAPTER=${adapter}${options.broken ? ` FAULT_BROKEN=${options.broken}` : ''} pnpm test:faults`

  const drawn: HandlerSetup = {
    types: Object.fromEntries(TYPES.map((type) => [type, between(rng, 1, 3)])),
    catchAll: between(rng, 0, 2),
  }
  const handlers = options.handlers ?? drawn
  const target = new URL(mode === 'postgres' ? DATABASE_URL : REDIS_URL)
  const proxy: TcpProxy | undefined = withStore ? await startTcpProxy(Number(target.port || (mode === 'postgres' ? 5432 : 6379)), target.hostname) : undefined
  const storeUrl = proxy ? throughProxy(mode === 'postgres' ? DATABASE_URL : REDIS_URL, proxy) : ''

  const receivers: Receiver[] = []
  const lives: ProcessLife[] = []
  const faults: Record<string, number> = {}
  const count = (kind: string) => void (faults[kind] = (faults[kind] ?? 0) + 1)
  const storeFaults: StoreFault[] = []
  const deliveries: Delivery[] = []

  async function spawnReceiver(): Promise<Receiver> {
    const child = spawn(process.execPath, [RECEIVER], {
      env: {
        ...process.env,
        MODE: mode,
        ADAPTER: adapter,
        SECRET,
        STORE_URL: storeUrl,
        NAME: name,
        JOURNAL: journalFile,
        HANDLERS: JSON.stringify(handlers),
        TIMEOUT_MS: String(TIMEOUT_MS),
        LEASE_MS: String(LEASE_MS),
        MAX_ATTEMPTS: String(MAX_ATTEMPTS),
        CLOSE_TIMEOUT_MS: '1500',
        ...(options.broken ? { BROKEN: options.broken } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const life: Receiver['life'] = { pid: child.pid as number, startedAt: Date.now(), exitCode: null, exitSignal: null }
    const receiver: Receiver = {
      pid: child.pid as number,
      port: 0,
      child,
      life,
      output: '',
      exited: new Promise((resolve) =>
        child.once('exit', (code, signal) => {
          Object.assign(life, { exitedAt: Date.now(), exitCode: code, exitSignal: signal })
          resolve()
        }),
      ),
    }
    child.stdout?.on('data', (chunk) => (receiver.output += chunk))
    child.stderr?.on('data', (chunk) => (receiver.output += chunk))
    for (let i = 0; i < 400 && !/listening (\d+)/.test(receiver.output); i++) {
      if (life.exitedAt !== undefined) throw new Error(`a receiver did not start:\n${receiver.output}`)
      await sleep(25)
    }
    const port = /listening (\d+)/.exec(receiver.output)?.[1]
    if (port === undefined) throw new Error(`a receiver did not start:\n${receiver.output}`)
    Object.assign(receiver, { port: Number(port) })
    lives.push(life)
    receivers.push(receiver)
    return receiver
  }

  const alive = () => receivers.filter((r) => r.life.signal === undefined && r.life.exitedAt === undefined)

  async function signal(receiver: Receiver, which: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    receiver.life.signal = which
    receiver.life.signalledAt = Date.now()
    receiver.child.kill(which)
    count(which)
    const timer = setTimeout(() => receiver.child.kill('SIGKILL'), 8000)
    await receiver.exited
    clearTimeout(timer)
  }

  // --- the schedule ----------------------------------------------------------------------------
  interface Send {
    readonly at: number
    readonly type: string
    readonly body: string
    readonly copies: number
  }
  const sends: Send[] = []
  for (let i = 0; i < eventCount; i++) {
    const type = pick(rng, TYPES)
    const plan: Record<string, unknown> = {}
    for (let h = 0; h < 3; h++) plan[h] = behaviour(rng)
    for (let h = 0; h < 2; h++) plan[10 + h] = behaviour(rng)
    // Half in the events reference's shape (type in the body, signed), half in the vendor's (type in
    // the unsigned header only: those may be re-sent under another type).
    const typeInBody = rng() < 0.5
    const body = JSON.stringify({ ...(typeInBody ? { event: type } : {}), customer: { email: `buyer${i}@example.com` }, n: `${seed}-${i}`, plan })
    const at = between(rng, 0, Math.floor(durationMs * 0.7))
    sends.push({ at, type, body, copies: rng() < 0.7 ? 1 : rng() < 0.66 ? 2 : 4 })
    for (let r = rng() < 0.6 ? 0 : rng() < 0.75 ? 1 : 2; r > 0; r--) {
      const other = !typeInBody && rng() < 0.4 ? TYPES.find((t) => t !== type) ?? type : type
      sends.push({ at: at + between(rng, 10, 1500), type: other, body, copies: 1 })
    }
  }
  type Action = { readonly at: number; readonly run: () => Promise<void> }
  const actions: Action[] = sends.map((send) => ({ at: send.at, run: () => deliver(send) }))
  if (proxy) {
    for (let i = between(rng, 2, 6); i > 0; i--) {
      const at = between(rng, 0, durationMs)
      const kind = pick(rng, ['lose-reply', 'drop-request', 'delay', 'outage', 'outage'] as const)
      const lasts = kind === 'outage' ? (rng() < 0.8 ? between(rng, 100, LEASE_MS - 200) : between(rng, LEASE_MS, LEASE_MS * 2)) : between(rng, 200, 900)
      actions.push({ at, run: () => storeFault(proxy, kind, lasts, between(rng, 100, 1200)) })
    }
  }
  if (options.processFaults !== false) {
    // In memory one process holds everything (a second would have a dedupe store of its own): it is
    // stopped (SIGTERM) at most once, and back soon.
    for (let i = withStore ? between(rng, 0, 2) : between(rng, 0, 1); i > 0; i--) {
      const at = between(rng, 200, durationMs)
      const restartAfter = withStore ? between(rng, 100, 800) : between(rng, 50, 200)
      const which = withStore ? 'SIGKILL' : 'SIGTERM'
      const moment = pick(rng, MOMENTS)
      actions.push({ at, run: () => processFault(which, restartAfter, pick(rng, [0, 1, 2, 3]), moment) })
    }
  }
  actions.sort((a, b) => a.at - b.at)

  const eventIds = new Map<string, string>()
  async function deliver(send: Send): Promise<void> {
    const headers = await signWebhook({ secret: SECRET, body: send.body, type: send.type })
    let id = eventIds.get(send.body)
    if (id === undefined) {
      const verified = await verifyWebhook({ secret: SECRET, headers, body: send.body })
      if (!verified.ok) throw new Error(`the suite signed a delivery it cannot verify: ${verified.reason}`)
      id = verified.event.id
      eventIds.set(send.body, id)
    }
    const eventId = id
    await Promise.all(
      Array.from({ length: send.copies }, async () => {
        const to = pick(rng, alive().length > 0 ? alive() : receivers)
        const sentAt = Date.now()
        let status: number | undefined
        let duplicate = false
        try {
          const res = await fetch(`http://127.0.0.1:${to.port}/webhooks/pocketsflow`, { method: 'POST', headers, body: send.body, signal: AbortSignal.timeout(6000) })
          status = res.status
          duplicate = (await res.text()).includes('"duplicate":true')
        } catch {
          status = undefined // refused, reset or timed out: not acknowledged
        }
        deliveries.push({ eventId, type: send.type, pid: to.pid, sentAt, status, duplicate })
      }),
    )
  }

  /** Waits (up to `withinMs`) for `moment` to happen in process `pid`; false if it did not. */
  async function momentIn(pid: number, moment: Moment, withinMs: number): Promise<boolean> {
    if (moment === 'any time') return false
    const since = Date.now()
    const kind = { 'mid-handler': 'start', 'after a success': 'success', 'in a back-off': 'fail' } as const
    while (Date.now() - since < withinMs) {
      if (moment === 'after a 200') {
        if (deliveries.some((d) => d.pid === pid && d.status === 200 && !d.duplicate && d.sentAt >= since)) return true
      } else {
        const wanted = kind[moment]
        if (readJournal(journalFile).some((e) => e.pid === pid && e.k === wanted && e.t >= since)) return true
      }
      await sleep(5)
    }
    return false
  }

  async function storeFault(p: TcpProxy, kind: StoreFault['kind'], lastsMs: number, delayMs: number): Promise<void> {
    count(kind)
    const from = Date.now()
    if (kind === 'outage') {
      await p.stop()
      await sleep(lastsMs)
      await p.start()
    } else if (kind === 'delay') {
      p.delayReplies(delayMs)
      await sleep(lastsMs)
      p.delayReplies(0)
    } else {
      const fired = kind === 'lose-reply' ? p.loseNextReply() : p.dropNextRequest()
      await Promise.race([fired, sleep(lastsMs)])
    }
    storeFaults.push({ kind, from, to: Date.now() + (kind === 'delay' ? delayMs : 0), ...(kind === 'delay' ? { delayMs } : {}) })
  }

  async function processFault(which: 'SIGKILL' | 'SIGTERM', restartAfterMs: number, index: number, moment: Moment): Promise<void> {
    const candidates = alive()
    if (candidates.length === 0) return
    const victim = candidates[index % candidates.length] as Receiver
    // At a given moment of some event's life in that process, if one comes within a second.
    const hit = await momentIn(victim.pid, moment, 1000)
    if (victim.life.signal !== undefined || victim.life.exitedAt !== undefined) return
    count(`${which} ${hit ? moment : 'any time'}`)
    await signal(victim, which)
    await sleep(restartAfterMs)
    await spawnReceiver()
  }

  // --- the run -----------------------------------------------------------------------------------
  const instances = withStore ? 2 : 1
  let report: OracleReport
  try {
    for (let i = 0; i < instances; i++) await spawnReceiver()
    const started = Date.now()
    const running: Promise<void>[] = []
    for (const action of actions) {
      const wait = started + action.at - Date.now()
      if (wait > 0) await sleep(wait)
      running.push(action.run())
    }
    await Promise.all(running)
    // Heal: the store back, and a receiver running, for whatever the faults left to do.
    if (proxy) {
      proxy.delayReplies(0)
      await proxy.start().catch(() => {})
    }
    if (alive().length === 0) await spawnReceiver()
    await settle()
    const deadLetters = await listDeadLetters()
    for (const receiver of alive()) await signal(receiver, 'SIGTERM')
    report = checkRun({
      mode,
      handlers,
      leaseMs: LEASE_MS,
      deliveries,
      journal: readJournal(journalFile),
      processes: lives,
      storeFaults,
      deadLetters: deadLetters.map((l) => ({ id: l.id, ...(l.failedHandlers ? { failedHandlers: l.failedHandlers } : {}) })),
    })
    if (report.violations.length > 0) {
      const outputs = receivers.map((r) => `--- pid ${r.pid}\n${r.output}`).join('\n')
      appendFileSync(join(dir, 'outputs.txt'), outputs)
      writeFileSync(join(dir, 'run.json'), JSON.stringify({ options, handlers, lives, storeFaults, deliveries, violations: report.violations }, null, 2))
    }
  } finally {
    for (const receiver of receivers) receiver.child.kill('SIGKILL')
    await proxy?.close()
    await removeStore(mode, name)
  }
  if (report.violations.length === 0) rmSync(dir, { recursive: true, force: true })
  return { options, report, faults, deliveries: deliveries.length, replay: `${replay}   (journal: ${report.violations.length > 0 ? dir : 'removed'})` }

  /** Until nothing is left to run: the store holds no pending work, the receivers none, the journal is quiet. */
  async function settle(): Promise<void> {
    const deadline = Date.now() + 30_000
    let lastSize = -1
    let quietSince = Date.now()
    while (Date.now() < deadline) {
      const size = readFileSync(journalFile, 'utf8').length
      if (size !== lastSize) {
        lastSize = size
        quietSince = Date.now()
      }
      if (Date.now() - quietSince >= Math.max(1500, 3 * TIMEOUT_MS) && (await nothingPending())) return
      await sleep(200)
    }
  }

  async function nothingPending(): Promise<boolean> {
    if (mode === 'postgres') {
      const client = new pg.Client({ connectionString: DATABASE_URL })
      await client.connect()
      try {
        const result = await client.query(`SELECT count(*)::int AS n FROM "${name}" WHERE status IN ('pending', 'running')`).catch(() => ({ rows: [{ n: 0 }] }))
        return result.rows[0]?.n === 0
      } finally {
        await client.end()
      }
    }
    if (mode === 'bullmq') {
      const redis = new Redis(REDIS_URL)
      try {
        const keys = ['wait', 'active', 'delayed', 'prioritized'].map((state) => `${name}:${name}:${state}`)
        const sizes = await Promise.all(keys.map((key) => redis.type(key).then((type) => (type === 'zset' ? redis.zcard(key) : type === 'list' ? redis.llen(key) : 0))))
        return sizes.every((n) => n === 0)
      } finally {
        redis.disconnect()
      }
    }
    return true
  }

  async function listDeadLetters(): Promise<DeadLetter[]> {
    if (durable) {
      const inbox = mode === 'bullmq' ? bullmqInbox({ connection: { url: REDIS_URL }, queueName: name, prefix: name, logger: false }) : postgresInbox({ connectionString: DATABASE_URL, table: name })
      try {
        return await inbox.deadLetters({ limit: 100_000 })
      } finally {
        await inbox.close()
      }
    }
    const lists = await Promise.all(alive().map(async (r) => (await (await fetch(`http://127.0.0.1:${r.port}/__faults/dead-letters`)).json()) as DeadLetter[]))
    return lists.flat()
  }
}

function readJournal(file: string): JournalEntry[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as JournalEntry]
      } catch {
        return [] // the last line of a process killed mid-write
      }
    })
}

async function removeStore(mode: Mode, name: string): Promise<void> {
  if (mode === 'postgres') {
    const client = new pg.Client({ connectionString: DATABASE_URL })
    await client.connect()
    await client.query(`DROP TABLE IF EXISTS "${name}"`).catch(() => {})
    await client.end()
  } else if (mode !== 'memory') {
    const redis = new Redis(REDIS_URL)
    try {
      let cursor = '0'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${name}*`, 'COUNT', 1000)
        cursor = next
        if (keys.length > 0) await redis.del(...keys)
      } while (cursor !== '0')
    } finally {
      redis.disconnect()
    }
  }
}

/** One line per run for the long form's table. */
export function summarise(result: RunResult): string {
  const { options, report, faults } = result
  const f = Object.entries(faults)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')
  return `seed ${options.seed} ${options.mode}/${options.adapter}: ${result.deliveries} deliveries, ${report.stats.acknowledged} acknowledged events, ${report.stats.handlerRuns} handler runs, ${report.stats.deadLetters} dead letters, faults: ${f || 'none'}; violations ${report.violations.length}`
}
