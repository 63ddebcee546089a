// The worker: claims due events into its free slots and runs each (attempt.ts), polls for what
// no notification announced, backs off while PostgreSQL is unreachable, and on close() waits for
// the running attempts, then aborts and releases them.
import { WebhookReceiverClosedError } from '@pocketsflow-webhooks/core'
import { runClaimed, type Running } from './attempt.js'
import { backoffMs, query, WORKER_QUERY_TIMEOUT_MS } from './database.js'
import { cleanup } from './maintenance.js'
import type { TableMigration } from './migrate.js'
import type { Settings } from './options.js'
import { claimDue, type ClaimedRow } from './sql/claim.js'
import type { InboxContext } from './state.js'
import { settledWithin } from '@pocketsflow-webhooks/core/inbox'

/** After close() aborts the running attempts, how long they get to return and release their rows. */
const RELEASE_GRACE_MS = 2000

/** One inbox's worker: at most `concurrency` attempts at once, in this process. */
export class Worker {
  readonly #ctx: InboxContext
  readonly #settings: Settings
  readonly #migration: TableMigration
  /** The attempts running in this process, by event id. */
  readonly #inflight = new Map<string, Running>()
  #pollTimer: NodeJS.Timeout | undefined
  #pumping: Promise<void> | undefined
  #pumpAgain = false
  /** Claims that failed in a row: the poll backs off while there are any. */
  #failures = 0
  #lastCleanup = 0

  constructor(ctx: InboxContext, settings: Settings, migration: TableMigration) {
    this.#ctx = ctx
    this.#settings = settings
    this.#migration = migration
  }

  /** The last claim failed: the worker is waiting out a backoff. */
  get backingOff(): boolean {
    return this.#failures > 0
  }

  /** Claims and launches work until the slots are full or nothing is due. One at a time. */
  pump(): Promise<void> {
    const { state } = this.#ctx
    if (state.closing || !state.processor) return Promise.resolve()
    if (this.#pumping) {
      this.#pumpAgain = true
      return this.#pumping
    }
    // The marker is cleared once the run has settled, never before it is set: a run that finds
    // every slot busy completes without awaiting anything.
    const run = this.#pumpOnce().finally(() => {
      this.#pumping = undefined
      // A wake-up that came after the run's last look at the slots is not left to the next poll.
      if (this.#pumpAgain && !state.closing) void this.pump()
      else this.#schedule()
    })
    this.#pumping = run
    return run
  }

  /** One run of pump(): claims and launches until the slots are full or nothing is due, then the cleanup when due. */
  async #pumpOnce(): Promise<void> {
    const { names, state } = this.#ctx
    const { concurrency } = this.#settings
    const inflight = this.#inflight
    try {
      do {
        this.#pumpAgain = false
        while (!state.closing && inflight.size < concurrency) {
          const want = concurrency - inflight.size
          const rows = await this.#claim(want)
          for (const row of rows) this.#launch(row)
          if (rows.length < want) break
        }
      } while (this.#pumpAgain && !state.closing)
      if (this.#failures > 0) state.logger.info({ table: names.qualified }, 'postgres inbox: PostgreSQL reachable again, workers resumed')
      this.#failures = 0
      if (Date.now() - this.#lastCleanup >= this.#settings.cleanupEveryMs) {
        this.#lastCleanup = Date.now()
        await cleanup(this.#ctx, this.#settings.retentionMs)
      }
    } catch (error) {
      this.#failures++
      // Once per outage at error level, then quietly: the loop retries with backoff by itself.
      if (this.#failures === 1) state.logger.error({ err: error, table: names.qualified }, 'postgres inbox: cannot claim events; retrying with backoff')
      else state.logger.debug({ err: error, table: names.qualified, failures: this.#failures }, 'postgres inbox: still cannot claim events')
    }
  }

  async #claim(limit: number): Promise<ClaimedRow[]> {
    await this.#migration.ensure()
    const result = await query<ClaimedRow>(this.#ctx.pool, claimDue(this.#ctx.names, limit, this.#ctx.state.leaseMs(), [...this.#inflight.keys()]))
    return result.rows
  }

  #launch(row: ClaimedRow): void {
    const running: Running = { controller: new AbortController(), releasing: false, lost: false, done: Promise.resolve() }
    this.#inflight.set(row.id, running)
    running.done = runClaimed(this.#ctx, row, running)
      .catch((error: unknown) => this.#ctx.state.logger.error({ err: error, eventId: row.id }, 'postgres inbox: unexpected error while processing an event'))
      .finally(() => {
        this.#inflight.delete(row.id)
        void this.pump()
      })
  }

  #schedule(): void {
    clearTimeout(this.#pollTimer)
    if (this.#ctx.state.closing) return
    const { pollIntervalMs } = this.#settings
    const delay = this.#failures === 0 ? pollIntervalMs : backoffMs(this.#failures, pollIntervalMs)
    this.#pollTimer = setTimeout(() => void this.pump(), delay)
  }

  /** For close(), once `closing` is set: no more polls. */
  stopPolling(): void {
    clearTimeout(this.#pollTimer)
  }

  /**
   * For close(): waits for the running attempts; past `timeoutMs`, aborts them (they release their
   * rows, or leave them to lapse) and gives them a short grace to do so.
   */
  async drain(timeoutMs: number): Promise<void> {
    // A claim in flight launches (or releases) its rows first, so they are waited for too.
    if (this.#pumping) await settledWithin(this.#pumping, WORKER_QUERY_TIMEOUT_MS)
    const all = Promise.all([...this.#inflight.values()].map((r) => r.done))
    if (timeoutMs === Infinity) await all
    else if (!(await settledWithin(all, timeoutMs))) {
      for (const running of this.#inflight.values()) {
        running.releasing = true
        running.controller.abort(new WebhookReceiverClosedError())
      }
      await settledWithin(all, RELEASE_GRACE_MS)
    }
  }
}
