// The LISTEN connection: wakes the worker as soon as an event is recorded or replayed, and comes
// back with a backoff when it is lost (the poll covers the gap).
import type { PoolClient, QueryConfig } from 'pg'
import { backoffMs, WORKER_QUERY_TIMEOUT_MS } from './database.js'
import { quoteIdent } from './schema.js'
import type { InboxContext } from './state.js'

const noop = () => {}

/** One inbox's LISTEN connection (none while it is lost: the poll covers the gap). */
export class Listener {
  readonly #ctx: InboxContext
  readonly #pollIntervalMs: number
  /** Called on every notification, and once LISTEN answers. */
  readonly #wake: () => unknown
  /** The connection LISTENing, once LISTEN answered. */
  #listener: PoolClient | undefined
  /** A connection checked out for LISTEN, waiting for the LISTEN to answer. */
  #connecting: PoolClient | undefined
  /** The next attempt to listen, while backing off after a failure. */
  #retryTimer: NodeJS.Timeout | undefined
  #failures = 0
  readonly #dropped = new WeakSet<PoolClient>()

  constructor(ctx: InboxContext, pollIntervalMs: number, wake: () => unknown) {
    this.#ctx = ctx
    this.#pollIntervalMs = pollIntervalMs
    this.#wake = wake
  }

  get listening(): boolean {
    return this.#listener !== undefined
  }

  /** Checks out a connection and LISTENs on the table's channel; on failure, tries again after a backoff. */
  async listen(): Promise<void> {
    const { pool, names, state } = this.#ctx
    if (state.closing) return
    let client: PoolClient | undefined
    try {
      client = await pool.connect()
      const mine = client
      mine.on('error', (error) => this.#drop(mine, error))
      if (state.closing) return this.#drop(mine)
      mine.on('notification', () => void this.#wake())
      // close() drops it even while LISTEN has not answered: a connection that stopped answering
      // would otherwise stay checked out, and the pool's end() would wait for it for ever.
      this.#connecting = mine
      try {
        await mine.query({ text: `LISTEN ${quoteIdent(names.channel)}`, query_timeout: WORKER_QUERY_TIMEOUT_MS } as QueryConfig)
      } finally {
        if (this.#connecting === mine) this.#connecting = undefined
      }
      if (state.closing || this.#dropped.has(mine)) return this.#drop(mine)
      this.#listener = mine
      this.#failures = 0
      // Anything recorded while we were not listening is picked up now rather than at the next poll.
      void this.#wake()
    } catch (error) {
      if (client) this.#drop(client, error)
      else this.#retry(error)
    }
  }

  /** Listens again now instead of at the end of the backoff, if it is waiting one out. */
  retryNow(): void {
    if (!this.#listener && this.#retryTimer !== undefined) {
      clearTimeout(this.#retryTimer)
      this.#retryTimer = undefined
      void this.listen()
    }
  }

  /** For close(): no more retries, and the connection (listening or still connecting) dropped. */
  close(): void {
    clearTimeout(this.#retryTimer)
    if (this.#listener) this.#drop(this.#listener)
    if (this.#connecting) this.#drop(this.#connecting)
  }

  #drop(client: PoolClient, error?: unknown): void {
    if (this.#dropped.has(client)) return
    this.#dropped.add(client)
    if (this.#listener === client) this.#listener = undefined
    client.removeAllListeners('notification')
    client.on('error', noop) // a dead socket may still report; it is already handled
    // Destroyed, never returned to the pool: a connection still LISTENing must not serve queries.
    client.release(true)
    if (error !== undefined) this.#retry(error)
  }

  #retry(error: unknown): void {
    const { names, state } = this.#ctx
    if (state.closing) return
    this.#failures++
    if (this.#failures === 1) state.logger.warn({ err: error, table: names.qualified }, 'postgres inbox: LISTEN connection lost; polling until it is back')
    clearTimeout(this.#retryTimer)
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined
      void this.listen()
    }, backoffMs(this.#failures, this.#pollIntervalMs))
  }
}
