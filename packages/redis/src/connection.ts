import { Redis, type RedisOptions } from 'ioredis'

/**
 * An ioredis client of yours: from ioredis 6, or from ioredis 5 (an app may upgrade this package
 * before its own ioredis; the two majors have the same commands). Typed by what this package
 * checks, so that a client of either major is accepted.
 */
export interface IoredisClient {
  readonly status: string
  // `never`: each major's duplicate() takes its own RedisOptions type, which TypeScript cannot
  // match across the two; this package calls it with options both majors understand.
  duplicate(...override: never[]): unknown
  quit(): Promise<unknown>
}

/**
 * Where Redis is: `{ url }` (plus any ioredis option), or an ioredis instance of yours. From an
 * instance only its settings are used: this package opens its own connections from it (`duplicate()`),
 * closes those, and never closes yours.
 */
export type RedisConnectionOptions = (RedisOptions & { url?: string | undefined }) | IoredisClient

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379'

/**
 * - `command`: answers the webhook sender, so while Redis is unreachable a command must fail at
 *   once (the delivery gets a 503 and is re-sent) instead of waiting in an offline queue that
 *   grows with every delivery and may run long after the sender gave up.
 * - `worker`: BullMQ's workers block on Redis and retry on their own; BullMQ requires
 *   `maxRetriesPerRequest: null` there.
 */
export type ConnectionRole = 'command' | 'worker'

const ROLE_OPTIONS: Record<ConnectionRole, RedisOptions> = {
  command: { maxRetriesPerRequest: 1, enableOfflineQueue: false },
  worker: { maxRetriesPerRequest: null },
}

/**
 * Reconnects quickly (at most 2 s apart): after Redis comes back, deliveries are accepted again
 * within a couple of seconds. BullMQ's own default waits up to 20 s between attempts.
 */
function retryStrategy(times: number): number {
  return Math.min(100 * 2 ** Math.min(times, 5), 2000)
}

export function isRedisInstance(value: unknown): value is IoredisClient {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as IoredisClient).duplicate === 'function' &&
    typeof (value as IoredisClient).quit === 'function' &&
    typeof (value as IoredisClient).status === 'string'
  )
}

/**
 * Which Redis server and database a connection goes to, as far as its options tell (`redis://host:port/db`),
 * so that two inboxes on one queue can be recognised (the core's `WebhookInbox.queue`).
 */
export function describeServer(connection: RedisConnectionOptions): string {
  const options = (isRedisInstance(connection) ? ((connection as { options?: RedisOptions }).options ?? {}) : connection) as RedisOptions & {
    url?: string | undefined
  }
  let url: URL | undefined
  try {
    url = options.url === undefined ? undefined : new URL(options.url)
  } catch {
    url = undefined
  }
  const db = options.db ?? (url && /^\/\d+$/.test(url.pathname) ? Number(url.pathname.slice(1)) : 0)
  if (options.path) return `redis+unix://${options.path}/${db}`
  const host = options.host ?? (url?.hostname || '127.0.0.1')
  const port = options.port ?? (url?.port ? Number(url.port) : 6379)
  return `redis://${host === 'localhost' ? '127.0.0.1' : host}:${port}/${db}`
}

/** A new connection this package owns (and closes). */
export function createClient(connection: RedisConnectionOptions, role: ConnectionRole, name: string): Redis {
  const overrides: RedisOptions = { ...ROLE_OPTIONS[role], connectionName: name }
  let client: Redis
  if (isRedisInstance(connection)) {
    // Of the instance's own ioredis major; both have the commands this package uses.
    client = (connection as Redis).duplicate(overrides)
  } else {
    const { url, ...rest } = connection
    const options: RedisOptions = { retryStrategy, ...rest, ...overrides }
    client = new Redis(url ?? DEFAULT_REDIS_URL, options)
  }
  // Failures reach the caller through the commands that fail (and BullMQ's own listeners log
  // them); without a listener ioredis would print every reconnection error to stderr.
  client.on('error', () => {})
  trackFirstReady(client)
  return client
}

/** Connections that have been ready at least once. */
const everReady = new WeakSet<Redis>()

function trackFirstReady(client: Redis): void {
  if (client.status === 'ready') everReady.add(client)
  else client.once('ready', () => everReady.add(client))
}

/**
 * Waits for a fresh connection's first `ready`: a command sent while it is still connecting would
 * fail (no offline queue), and the first deliveries after a boot must not get a 503 for that. But
 * a connection that fails before it was ever ready (Redis down at boot, wrong URL) fails the
 * caller at once rather than hanging. Once connected, a dropped connection is not waited for:
 * commands fail fast.
 */
export function usable(client: Redis): Promise<void> {
  if (client.status === 'ready' || everReady.has(client)) return Promise.resolve()
  // One wait per connection however many deliveries arrive before it is up: listeners per caller
  // would pile up on the client.
  let waiting = connecting.get(client)
  if (waiting === undefined) {
    waiting = firstOutcome(client)
    connecting.set(client, waiting)
    const forget = () => connecting.delete(client)
    waiting.then(forget, forget)
  }
  return waiting
}

const connecting = new WeakMap<Redis, Promise<void>>()

function firstOutcome(client: Redis): Promise<void> {
  if (client.status === 'wait') client.connect().catch(() => {})
  return new Promise<void>((resolve, reject) => {
    const settle = (error?: unknown) => {
      client.off('ready', onReady)
      client.off('error', onError)
      client.off('end', onEnd)
      if (error === undefined) resolve()
      else reject(error)
    }
    const onReady = () => settle()
    const onError = (error: unknown) => settle(error)
    const onEnd = () => settle(new Error('the Redis connection was closed'))
    client.once('ready', onReady)
    client.once('error', onError)
    client.once('end', onEnd)
  })
}

/** Closes a connection this package owns: politely when it can, at once when Redis is away. */
export async function closeClient(client: Redis, graceMs = 1000): Promise<void> {
  if (client.status === 'end') return
  if (client.status !== 'ready') {
    client.disconnect()
    return
  }
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    await Promise.race([
      client.quit().catch(() => client.disconnect()),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          client.disconnect()
          resolve()
        }, graceMs)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}
