// prometheusHooks({ registry }): the receiver's hooks as prom-client metrics, named as the project's
// contract says (prefix `pocketsflow_webhook_`). Several receivers may share one registry: the
// metrics are registered once and the gauges sum what every receiver reports.
import { REJECTION_REASONS, type HookSource, type Provider, type ReceiverHooks } from '@pocketsflow-webhooks/core'
import type { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { readInboxDepth } from './depth.js'
import { knownTypeLabels, seconds, typeLabeller } from './labels.js'
import { loadPeer } from './peers.js'

export interface PrometheusHooksOptions {
  /** The prom-client registry to register in (default: prom-client's global `register`). */
  registry?: Registry
  /** Prefix of every metric name (default `pocketsflow_webhook_`). */
  prefix?: string
  /** Buckets of `handler_duration_seconds`, in seconds (default: 5 ms to 60 s). */
  handlerBuckets?: number[]
  /** Buckets of `ack_duration_seconds`, in seconds (default: 1 ms to 5 s, the sender's timeout). */
  ackBuckets?: number[]
}

const HANDLER_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
const ACK_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

type PromClient = typeof import('prom-client')

/** The metrics prometheusHooks() registered (a metric of the same name from elsewhere is refused). */
const ours = new WeakSet<object>()
/** The receivers reporting into each registry's metrics, by prefix: every prometheusHooks() on it shares them. */
const sourcesByRegistry = new WeakMap<Registry, Map<string, Set<HookSource>>>()

function sourcesOf(registry: Registry, prefix: string): Set<HookSource> {
  let byPrefix = sourcesByRegistry.get(registry)
  if (!byPrefix) sourcesByRegistry.set(registry, (byPrefix = new Map()))
  let sources = byPrefix.get(prefix)
  if (!sources) byPrefix.set(prefix, (sources = new Set()))
  return sources
}

/**
 * Hooks that count deliveries, handler attempts and dead letters and time handlers and
 * acknowledgements, for a receiver's `hooks` option (beside your own: `hooks: [prometheusHooks(), mine]`).
 * @example
 * ```ts
 * import { collectDefaultMetrics, register } from 'prom-client'
 * app.use(pocketsflowWebhook({ secret, on, hooks: prometheusHooks({ registry: register }) }))
 * app.get('/metrics', async (_req, res) => res.type(register.contentType).send(await register.metrics()))
 * ```
 */
export function prometheusHooks(options: PrometheusHooksOptions = {}): ReceiverHooks {
  const client = loadPeer<PromClient>('prom-client', 'prometheusHooks()')
  const registry = options.registry ?? client.register
  const prefix = options.prefix ?? 'pocketsflow_webhook_'
  // Every prometheusHooks() on one registry shares its metrics, so the gauges read every receiver's source.
  const sources = sourcesOf(registry, prefix)

  /**
   * The registry's metric of that name if an earlier prometheusHooks() registered it, else a new
   * one. A metric of that name that is not ours (another type) is a configuration error.
   */
  function metric<M>(name: string, create: (config: { name: string; registers: Registry[] }) => M): M {
    const existing = registry.getSingleMetric(prefix + name) as M | undefined
    if (existing === undefined) return create({ name: prefix + name, registers: [registry] })
    if (!ours.has(existing as object)) {
      throw new TypeError(`pocketsflow-webhooks: the registry already has a metric named ${prefix}${name} that prometheusHooks() did not register: pass another registry or prefix`)
    }
    return existing
  }
  const register = <M extends object>(made: M): M => (ours.add(made), made)

  const deliveries = metric('deliveries_total', (c) =>
    register(new client.Counter({ ...c, help: 'Webhook deliveries answered, by outcome (accepted, duplicate, ignored, rejected) and rejection reason', labelNames: ['provider', 'outcome', 'reason'] }))) as Counter<'provider' | 'outcome' | 'reason'>
  const attempts = metric('handler_attempts_total', (c) =>
    register(new client.Counter({ ...c, help: 'Handler attempts, by event type and outcome (ok, failed, timeout)', labelNames: ['type', 'outcome'] }))) as Counter<'type' | 'outcome'>
  const handlerDuration = metric('handler_duration_seconds', (c) =>
    register(new client.Histogram({ ...c, help: 'Duration of one handler attempt', labelNames: ['type'], buckets: options.handlerBuckets ?? HANDLER_BUCKETS }))) as Histogram<'type'>
  const ackDuration = metric('ack_duration_seconds', (c) =>
    register(new client.Histogram({ ...c, help: 'From the request reaching the receiver to its answer, rejections included', buckets: options.ackBuckets ?? ACK_BUCKETS }))) as Histogram
  const deadLetters = metric('dead_letters_total', (c) =>
    register(new client.Counter({ ...c, help: 'Events that failed for good and were kept as dead letters, by event type', labelNames: ['type'] }))) as Counter<'type'>
  metric('dispatch_waiting', (c) =>
    register(new client.Gauge({
      ...c,
      help: 'Accepted events waiting for a dispatch slot (in-memory dispatch)',
      collect(this: Gauge) {
        let waiting = 0
        for (const source of sources) waiting += source.stats?.().waiting ?? 0
        this.set(waiting)
      },
    })),
  )
  // Read from the store at each scrape (two counts per inbox), with a deadline; both gauges of one
  // scrape share the reading. A reading that failed or came too late is NaN, not a stale number.
  let reading: Promise<{ pending: number; deadLetters: number } | undefined> | undefined
  const readDepth = async (key: 'pending' | 'deadLetters'): Promise<number | undefined> => {
    if (![...sources].some((source) => source.inboxDepth)) return undefined
    reading ??= readInboxDepth(sources).finally(() => setTimeout(() => (reading = undefined), 0))
    const depth = await reading
    return depth === undefined ? Number.NaN : depth[key]
  }
  metric('inbox_pending', (c) =>
    register(new client.Gauge({
      ...c,
      help: 'Events recorded in the durable inbox and not finished yet (waiting, retrying or running); NaN when the store could not be read',
      async collect(this: Gauge) {
        const pending = await readDepth('pending')
        if (pending !== undefined) this.set(pending)
      },
    })),
  )
  metric('inbox_dead_letters', (c) =>
    register(new client.Gauge({
      ...c,
      help: 'Dead letters in the durable inbox; NaN when the store could not be read',
      async collect(this: Gauge) {
        const dead = await readDepth('deadLetters')
        if (dead !== undefined) this.set(dead)
      },
    })),
  )

  /**
   * Every series an alert may watch starts at 0 once a receiver of the provider exists: a counter
   * that first appears at 1 would show no increase() for its first event (a first dead letter).
   */
  const started = new Set<Provider>()
  function startSeries(provider: Provider): void {
    if (started.has(provider)) return
    started.add(provider)
    for (const outcome of ['accepted', 'duplicate']) deliveries.inc({ provider, outcome, reason: '' }, 0)
    deliveries.inc({ provider, outcome: 'ignored', reason: 'test_mode' }, 0)
    for (const reason of REJECTION_REASONS) deliveries.inc({ provider, outcome: 'rejected', reason }, 0)
    for (const type of knownTypeLabels(provider)) {
      deadLetters.inc({ type }, 0)
      for (const outcome of ['ok', 'failed', 'timeout']) attempts.inc({ type, outcome }, 0)
    }
  }

  // Each labelled series' child, looked up once: prom-client otherwise hashes the label object on
  // every increment, on the path of every delivery (bench/http: BENCH_PAIR=metrics).
  const deliveriesOf = childrenOf((key: string) => {
    const [provider, outcome, reason] = key.split('\u0000') as [string, string, string]
    return deliveries.labels({ provider, outcome, reason })
  })
  const attemptsOf = childrenOf((key: string) => {
    const [type, outcome] = key.split('\u0000') as [string, string]
    return attempts.labels({ type, outcome })
  })
  const durationOf = childrenOf((type: string) => handlerDuration.labels({ type }))
  const deadLettersOf = childrenOf((type: string) => deadLetters.labels({ type }))
  const delivery = (provider: string, outcome: string, reason: string) => deliveriesOf(`${provider}\u0000${outcome}\u0000${reason}`).inc()

  const typeOf = typeLabeller()
  return {
    observe: (source) => {
      sources.add(source)
      startSeries(source.provider)
    },
    accepted: (event) => delivery(event.provider, 'accepted', ''),
    duplicate: (event) => delivery(event.provider, 'duplicate', ''),
    ignored: (event, { reason }) => delivery(event.provider, 'ignored', reason),
    rejected: ({ provider, reason }) => delivery(provider, 'rejected', reason),
    answered: ({ durationMs }) => ackDuration.observe(seconds(durationMs)),
    attempted: (event, { outcome, durationMs }) => {
      const type = typeOf(event)
      attemptsOf(`${type}\u0000${outcome}`).inc()
      durationOf(type).observe(seconds(durationMs))
    },
    deadLettered: (event) => deadLettersOf(typeOf(event)).inc(),
  }
}

/** A memo of `create` by key: label values are bounded (see labels.ts), so is this. */
function childrenOf<T>(create: (key: string) => T): (key: string) => T {
  const children = new Map<string, T>()
  return (key) => {
    let child = children.get(key)
    if (child === undefined) children.set(key, (child = create(key)))
    return child
  }
}
