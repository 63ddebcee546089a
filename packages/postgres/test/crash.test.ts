// Real process deaths: a child process runs Express + postgresInbox (test/fixtures/receiver.mjs,
// which imports this package's build) and is killed with SIGKILL or stopped with SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { startTcpProxy, throughProxy, type TcpProxy } from '../../../test/tcp-proxy.js'
import { adminPool, DATABASE_URL, dropTables, PATH, post, rows, SECRET, sleep, uniqueTable } from './helpers.js'

const FIXTURE = fileURLToPath(new URL('./fixtures/receiver.mjs', import.meta.url))
const admin = adminPool()
const tables: string[] = []
const children = new Set<ChildProcess>()

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL')
  await dropTables(admin, tables)
  await admin.end()
})

async function setup(label: string) {
  const table = uniqueTable(label)
  const runsTable = `${table}_runs`
  tables.push(table, runsTable)
  await admin.query(`CREATE TABLE "${runsTable}" (event_id text, attempt int, phase text, at timestamptz DEFAULT clock_timestamp())`)
  const runs = async () =>
    (await admin.query<{ attempt: number; phase: string }>(`SELECT attempt, phase FROM "${runsTable}" ORDER BY at`)).rows.map((r) => `${r.phase} ${r.attempt}`)
  return { table, runsTable, runs }
}

/** Starts the fixture and resolves with its URL once it listens. */
function receiver(env: Record<string, string>): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, DATABASE_URL, SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  child.on('exit', () => children.delete(child))
  let output = ''
  child.stderr?.on('data', (chunk) => (output += chunk))
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk
      const port = /listening (\d+)/.exec(output)?.[1]
      if (port) resolve({ child, url: `http://127.0.0.1:${port}${PATH}`, output: () => output })
    })
    child.on('exit', (code) => reject(new Error(`fixture exited (${code}): ${output}`)))
  })
}

function killed(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill(signal)
  })
}

describe('postgresInbox across process deaths', () => {
  it('runs the handler exactly once after kill -9 right after the 200', async () => {
    const { table, runsTable, runs } = await setup('kill_after_ack')
    // The handler waits before touching anything, so the kill lands before it did any work.
    const first = await receiver({ TABLE: table, RUNS_TABLE: runsTable, START_DELAY_MS: '500', LEASE_MS: '800' })
    const res = await post(first.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))
    await killed(first.child, 'SIGKILL')
    expect(res).toEqual({ status: 200, body: { received: true } })
    expect(await runs()).toEqual([])
    expect((await rows(admin, table)).map((r) => r.status)).toEqual([expect.stringMatching(/^(pending|running)$/)])

    const second = await receiver({ TABLE: table, RUNS_TABLE: runsTable, LEASE_MS: '800' })
    try {
      await vi.waitFor(async () => expect((await rows(admin, table))[0]?.status).toBe('done'), { timeout: 10_000 })
      await sleep(1000) // a lease's worth: nothing runs it a second time
      // Attempt 1 if the first process never claimed it, 2 if it claimed it and died: once either way.
      expect(await runs()).toEqual([expect.stringMatching(/^start [12]$/), expect.stringMatching(/^end [12]$/)])
    } finally {
      await killed(second.child, 'SIGKILL')
    }
  })

  it('re-runs a handler killed mid-run once its lease expires, as the next attempt', async () => {
    const { table, runsTable, runs } = await setup('kill_mid_handler')
    const first = await receiver({ TABLE: table, RUNS_TABLE: runsTable, HANDLER_MS: '60000', LEASE_MS: '800' })
    expect((await post(first.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(async () => expect(await runs()).toEqual(['start 1']), { timeout: 5000 })
    await killed(first.child, 'SIGKILL')

    const second = await receiver({ TABLE: table, RUNS_TABLE: runsTable, LEASE_MS: '800' })
    try {
      await vi.waitFor(async () => expect((await rows(admin, table))[0]?.status).toBe('done'), { timeout: 10_000 })
      expect(await runs()).toEqual(['start 1', 'start 2', 'end 2'])
      expect((await rows(admin, table))[0]?.attempts).toBe(2)
    } finally {
      await killed(second.child, 'SIGKILL')
    }
  })

  it('dead-letters an event whose last attempt was cut short by kill -9, without running it again', async () => {
    const { table, runsTable, runs } = await setup('kill_last_attempt')
    const env = { TABLE: table, RUNS_TABLE: runsTable, LEASE_MS: '800', MAX_ATTEMPTS: '1' }
    const first = await receiver({ ...env, HANDLER_MS: '60000' })
    expect((await post(first.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(async () => expect(await runs()).toEqual(['start 1']), { timeout: 5000 })
    await killed(first.child, 'SIGKILL')

    const second = await receiver(env)
    try {
      await vi.waitFor(async () => expect((await rows(admin, table))[0]?.status).toBe('dead'), { timeout: 10_000 })
      expect((await rows(admin, table))[0]).toMatchObject({ attempts: 1, last_error: expect.stringMatching(/attempt 1 of 1 stopped before it finished/) })
      await sleep(1000)
      expect(await runs()).toEqual(['start 1'])
      // Dead-lettered outside an attempt, it still reaches onError.
      expect(second.output()).toContain('onError inbox 1')
    } finally {
      await killed(second.child, 'SIGKILL')
    }
  })

  it('on SIGTERM, gives back a handler that outlives the close timeout once its lease lapses: re-run elsewhere as attempt 1', async () => {
    const { table, runsTable, runs } = await setup('sigterm')
    const first = await receiver({ TABLE: table, RUNS_TABLE: runsTable, HANDLER_MS: '60000', CLOSE_TIMEOUT_MS: '300' })
    expect((await post(first.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
    await vi.waitFor(async () => expect(await runs()).toEqual(['start 1']), { timeout: 5000 })
    await killed(first.child, 'SIGTERM')
    expect(first.output()).toContain('closed')
    // Not pending at once: the handler ignores its signal and may still be running. Uncounted.
    expect((await rows(admin, table)).map((r) => [r.status, r.attempts])).toEqual([['running', 0]])

    const second = await receiver({ TABLE: table, RUNS_TABLE: runsTable })
    try {
      await vi.waitFor(async () => expect((await rows(admin, table))[0]?.status).toBe('done'), { timeout: 10_000 })
      expect(await runs()).toEqual(['start 1', 'start 1', 'end 1'])
    } finally {
      await killed(second.child, 'SIGKILL')
    }
  })

  // A final failure, then the process dies: before its outcome reached PostgreSQL (A), or after it
  // was stored but before onError (B). Either way onError is called once in all, never before the
  // outcome is stored, and a report made after the restart carries what was stored.
  async function finalFailureThenKill(label: string, fault: (proxy: TcpProxy) => void | Promise<void>) {
    const { table, runsTable, runs } = await setup(label)
    const target = new URL(DATABASE_URL)
    const proxy = await startTcpProxy(Number(target.port || 5432), target.hostname)
    try {
      const first = await receiver({
        TABLE: table,
        RUNS_TABLE: runsTable,
        DATABASE_URL: throughProxy(DATABASE_URL, proxy),
        RUNS_DATABASE_URL: DATABASE_URL,
        MAX_ATTEMPTS: '1',
        HANDLER_MS: '300',
        FAIL: '1',
      })
      expect((await post(first.url, await signedRequest({ secret: SECRET, type: 'order.completed' }))).status).toBe(200)
      await vi.waitFor(async () => expect(await runs()).toEqual(['start 1']), { timeout: 5000, interval: 20 })
      await fault(proxy) // the handler fails right after this
      await sleep(800)
      await killed(first.child, 'SIGKILL')
      return { table, runsTable, runs, first }
    } finally {
      await proxy.close()
    }
  }

  it('a kill after a final failure, before its outcome is stored: onError once, after the restart', async () => {
    const { table, runsTable, runs, first } = await finalFailureThenKill('kill_before_outcome', (proxy) => proxy.stop())
    expect(first.output()).not.toContain('onError')
    expect((await rows(admin, table)).map((r) => r.status)).toEqual(['running'])
    await sleep(1100) // the dead process's lease
    const second = await receiver({ TABLE: table, RUNS_TABLE: runsTable, MAX_ATTEMPTS: '1', FAIL: '1' })
    try {
      await vi.waitFor(() => expect(second.output()).toMatch(/onError order\.completed 1|onError inbox 1/), { timeout: 10_000 })
      await sleep(300)
      expect(second.output().match(/onError/g)).toHaveLength(1)
      expect((await rows(admin, table)).map((r) => r.status)).toEqual(['dead'])
      expect(await runs()).toEqual(['start 1'])
    } finally {
      await killed(second.child, 'SIGKILL')
    }
  })

  it('a kill after a final failure was stored, before onError: reported once after the restart, with the stored error', async () => {
    const { table, runsTable, runs, first } = await finalFailureThenKill('kill_before_report', (proxy) => proxy.delayReplies(5000))
    expect(first.output()).not.toContain('onError')
    expect((await admin.query(`SELECT status, report_pending FROM "${table}"`)).rows).toEqual([{ status: 'dead', report_pending: true }])
    await sleep(1100) // older than a lease: its own worker is surely not reporting it any more
    const second = await receiver({ TABLE: table, RUNS_TABLE: runsTable, MAX_ATTEMPTS: '1', FAIL: '1' })
    try {
      await vi.waitFor(() => expect(second.output()).toContain('onError order.completed 1 fulfilment refused'), { timeout: 10_000 })
      await sleep(300)
      expect(second.output().match(/onError/g)).toHaveLength(1)
      expect((await admin.query(`SELECT report_pending FROM "${table}"`)).rows).toEqual([{ report_pending: false }])
      expect(await runs()).toEqual(['start 1'])
    } finally {
      await killed(second.child, 'SIGKILL')
    }
  })
})
