// Creating the table on first use (createTable: true), once per inbox, serialized across processes.
import type { Pool, QueryConfig } from 'pg'
import { storableMessage, WORKER_QUERY_TIMEOUT_MS } from './database.js'
import { migrationSql, type Names } from './schema.js'

/** Runs `migrationSql()` before the first record, claim or listing; again after a failure. */
export class TableMigration {
  readonly #pool: Pool
  readonly #options: { table?: string; schema?: string }
  readonly #names: Names
  readonly #enabled: boolean
  #ready: Promise<void> | undefined

  constructor(pool: Pool, options: { table?: string; schema?: string }, names: Names, enabled: boolean) {
    this.#pool = pool
    this.#options = options
    this.#names = names
    this.#enabled = enabled
  }

  /** Resolves once the table exists (at once with `createTable: false`). */
  ensure(): Promise<void> {
    if (!this.#enabled) return Promise.resolve()
    this.#ready ??= this.#createIfMissing().catch((error: unknown) => {
      this.#ready = undefined // retried on the next call: the database may be back by then
      throw error
    })
    return this.#ready
  }

  async #createIfMissing(): Promise<void> {
    const client = await this.#pool.connect()
    let broken: Error | undefined
    // A checked-out client has no 'error' listener of the pool's: a connection that dies here (a
    // restart, pg_terminate_backend) would otherwise be an unhandled 'error' event and end the process.
    const onError = (error: Error) => void (broken ??= error)
    client.on('error', onError)
    // Bounded: a connection that stops answering (a partition) must not leave `ready`, and with it
    // every record and claim, waiting for ever, nor keep the pool from ending.
    const run = (text: string, values?: unknown[]) => client.query({ text, values, query_timeout: WORKER_QUERY_TIMEOUT_MS } as QueryConfig)
    try {
      await run('BEGIN')
      // Concurrent CREATE TABLE IF NOT EXISTS from several processes can still collide on the
      // catalog's unique indexes: serialize them on a lock of their own.
      await run('SELECT pg_advisory_xact_lock(hashtext($1))', [this.#names.lockKey])
      await run(migrationSql(this.#options))
      await run('COMMIT')
    } catch (error) {
      // No ROLLBACK: after a timeout the connection is still busy and it would wait for ever.
      // Releasing with an error destroys the connection, which rolls the transaction back.
      broken ??= error instanceof Error ? error : new Error(storableMessage(error))
      throw error
    } finally {
      // On a broken connection the listener stays, swallowing any late report from its socket.
      if (!broken) client.removeListener('error', onError)
      client.release(broken)
    }
  }
}
