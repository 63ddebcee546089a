// The inbox table: its names (table, indexes, NOTIFY channel, migration lock) and the SQL that
// creates it or brings a table of an earlier version up to date.
import { createHash } from 'node:crypto'

export const DEFAULT_TABLE = 'pocketsflow_webhook_inbox'

/** Everything one inbox's SQL is written against, derived from its table and schema options. */
export interface Names {
  /** The quoted, schema-qualified table name. */
  qualified: string
  channel: string
  lockKey: string
  claimIndex: string
  finishedIndex: string
  deadIndex: string
  schema: string | undefined
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

export function names(options: { table?: string; schema?: string }): Names {
  const table = options.table ?? DEFAULT_TABLE
  // Index names are derived from the table name and PostgreSQL cuts identifiers at 63 bytes:
  // refuse names that would be cut rather than silently share an index name with another table.
  if (typeof table !== 'string' || table.length === 0 || Buffer.byteLength(table) > 48) {
    throw new TypeError('pocketsflow-webhooks: "table" must be a name of 1 to 48 bytes')
  }
  if (options.schema !== undefined && (typeof options.schema !== 'string' || options.schema.length === 0 || Buffer.byteLength(options.schema) > 63)) {
    throw new TypeError('pocketsflow-webhooks: "schema" must be a name of 1 to 63 bytes')
  }
  const qualified = options.schema === undefined ? quoteIdent(table) : `${quoteIdent(options.schema)}.${quoteIdent(table)}`
  // One channel per table, short whatever the names: inboxes on other tables are not woken.
  const hash = createHash('sha256').update(`${options.schema ?? ''}.${table}`).digest('hex').slice(0, 16)
  return {
    qualified,
    channel: `pocketsflow_inbox_${hash}`,
    lockKey: `pocketsflow_inbox_${hash}`,
    claimIndex: quoteIdent(`${table}_claimable_idx`),
    finishedIndex: quoteIdent(`${table}_finished_idx`),
    deadIndex: quoteIdent(`${table}_dead_idx`),
    schema: options.schema,
  }
}

/**
 * The SQL that creates the inbox table and its indexes, for those who manage migrations
 * themselves (then pass `createTable: false`). Idempotent.
 */
export function migrationSql(options: { table?: string; schema?: string } = {}): string {
  const n = names(options)
  return `${n.schema === undefined ? '' : `CREATE SCHEMA IF NOT EXISTS ${quoteIdent(n.schema)};\n`}CREATE TABLE IF NOT EXISTS ${n.qualified} (
  id text PRIMARY KEY,
  type text NOT NULL,
  -- serializeEvent() text, kept byte for byte (jsonb would reorder keys and refuses \\u0000)
  event text NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'dead')),
  -- attempts started, the current one included (ctx.attempt)
  attempts integer NOT NULL DEFAULT 0,
  -- fencing token: +1 on every claim, never decreases; every write after a claim checks it
  lease bigint NOT NULL DEFAULT 0,
  run_at timestamptz NOT NULL DEFAULT now(),
  locked_until timestamptz,
  completed_handlers text[] NOT NULL DEFAULT '{}',
  -- a dead letter's failed handlers, and whether onError has yet to hear of it (a crash between the
  -- write and the report leaves it true: the next worker reports it, with the stored error)
  failed_handlers text[] NOT NULL DEFAULT '{}',
  report_pending boolean NOT NULL DEFAULT false,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
-- tables created by earlier versions
ALTER TABLE ${n.qualified} ADD COLUMN IF NOT EXISTS failed_handlers text[] NOT NULL DEFAULT '{}';
ALTER TABLE ${n.qualified} ADD COLUMN IF NOT EXISTS report_pending boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS ${n.claimIndex} ON ${n.qualified} (run_at) WHERE status IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS ${n.finishedIndex} ON ${n.qualified} (finished_at) WHERE status IN ('done', 'dead');
-- dead letters only: listed and counted (depth()) without walking the done events kept for dedupe
CREATE INDEX IF NOT EXISTS ${n.deadIndex} ON ${n.qualified} (finished_at) WHERE status = 'dead';
`
}
