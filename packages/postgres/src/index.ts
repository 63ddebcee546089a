// @pocketsflow-webhooks/postgres: a durable webhook inbox on a PostgreSQL table. Read in the order
// things run: options.ts and schema.ts (what an inbox is configured with, and its table),
// inbox.ts (postgresInbox(): record, start, deadLetters, replay, close), then the parts it wires:
// migrate.ts, listener.ts, worker.ts → attempt.ts → maintenance.ts, each running the statements
// of sql/ through database.ts, and sharing state.ts.
export { DEFAULT_CONCURRENCY, DEFAULT_POLL_INTERVAL_MS, DEFAULT_RETENTION_MS, type PostgresInboxOptions } from './options.js'
export { DEFAULT_TABLE, migrationSql } from './schema.js'
export { postgresInbox, type PostgresInbox } from './inbox.js'
