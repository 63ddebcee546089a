// The durable inboxes' exactly-once contract (test/inbox-contract.ts), on the real PostgreSQL.
import { postgresInbox } from '../src/index.js'
import { describeInboxContract } from '../../../test/inbox-contract.js'
import { DATABASE_URL, testScope } from './helpers.js'

const { table, start } = testScope()
const tables = new WeakMap<object, string>()

describeInboxContract('postgresInbox', {
  inbox(label) {
    const name = table(label)
    const inbox = postgresInbox({ connectionString: DATABASE_URL, table: name, pollIntervalMs: 50 })
    tables.set(inbox, name)
    return inbox
  },
  twin(inbox) {
    const twin = postgresInbox({ connectionString: DATABASE_URL, table: tables.get(inbox) as string, pollIntervalMs: 50 })
    return twin
  },
  start: (options) => start(options as Parameters<typeof start>[0]),
})
