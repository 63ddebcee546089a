// Both processes open the same inbox: same database, same table.
import { postgresInbox } from '@pocketsflow-webhooks/postgres'

export function openInbox() {
  return postgresInbox({
    connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    table: process.env.INBOX_TABLE ?? 'pocketsflow_webhook_inbox',
  })
}
