// Which handlers consume each inbox, in this process. An inbox's workers run whatever events its
// queue or table holds with the handlers they were started with, so two receivers with different
// handlers (two senders, two paths) on one queue would each run the other's events, acknowledged
// with 200 and then handled by the wrong code. Within a process that is refused when it starts;
// across processes only a queue (or table) per receiver prevents it, as the READMEs say.
import type { WebhookInbox } from './inbox.js'
import type { Provider } from './types.js'

/** Whose handlers an inbox's workers run: a receiver's (with its path), or a worker's (any path). */
export interface InboxConsumer {
  readonly provider: Provider
  /** The receiver's path; `undefined` for `startInboxWorker`, which serves whichever receiver records. */
  readonly path?: string | undefined
}

const started = /* @__PURE__ */ new WeakSet<WebhookInbox>()
const consumersOfQueue = /* @__PURE__ */ new Map<string, InboxConsumer[]>()

const describe = (consumer: InboxConsumer): string =>
  consumer.path === undefined ? `startInboxWorker (${consumer.provider})` : `the ${consumer.provider} receiver on ${consumer.path}`

/** Two consumers may share a queue only if they are the same receiver (instances of it), or a worker for it. */
function compatible(a: InboxConsumer, b: InboxConsumer): boolean {
  return a.provider === b.provider && (a.path === undefined || b.path === undefined || a.path === b.path)
}

/**
 * Registers `consumer` as the one whose handlers `inbox` runs, before its workers start. Throws
 * when this inbox object already runs handlers, or when its queue (`inbox.queue`) is consumed in
 * this process by an incompatible receiver. Returns the release, for when it is closed.
 */
export function claimInbox(inbox: WebhookInbox, consumer: InboxConsumer): () => void {
  if (started.has(inbox)) {
    throw new Error(
      `pocketsflow-webhooks: this inbox already runs the handlers of another receiver or worker, so ${describe(consumer)} ` +
        `cannot use it too: give each receiver an inbox of its own, on its own queue (queueName) or table`,
    )
  }
  const queue = inbox.queue
  const consumers = queue === undefined ? [] : (consumersOfQueue.get(queue) ?? [])
  const other = consumers.find((existing) => !compatible(existing, consumer))
  if (other) {
    throw new Error(
      `pocketsflow-webhooks: ${queue} is already consumed in this process by ${describe(other)}; its workers would run ` +
        `the events of ${describe(consumer)} with their own handlers, and the other way round: give this one its own queue (queueName) or table`,
    )
  }
  started.add(inbox)
  if (queue === undefined) return () => {}
  consumersOfQueue.set(queue, [...consumers, consumer])
  let released = false
  return () => {
    if (released) return
    released = true
    const remaining = (consumersOfQueue.get(queue) ?? []).filter((existing) => existing !== consumer)
    if (remaining.length > 0) consumersOfQueue.set(queue, remaining)
    else consumersOfQueue.delete(queue)
  }
}
