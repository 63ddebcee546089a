// The durable inboxes' exactly-once contract (test/inbox-contract.ts), on the real Redis with BullMQ.
import { describeInboxContract } from '../../../test/inbox-contract.js'
import { testScope } from './helpers.js'

const scope = testScope()
const queues = new WeakMap<object, string>()

describeInboxContract('bullmqInbox', {
  inbox(label) {
    const name = scope.queue(label)
    const inbox = scope.inboxFor(name)
    queues.set(inbox, name)
    return inbox
  },
  twin: (inbox) => scope.inboxFor(queues.get(inbox) as string),
  start: (options) => scope.app(options as Parameters<typeof scope.app>[0]),
})
