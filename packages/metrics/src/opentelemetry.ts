// openTelemetryHooks(): the receiver's hooks as OpenTelemetry metrics and spans, through
// @opentelemetry/api only (the app brings its SDK and exporters). Names and attributes follow the
// semantic conventions: HTTP server for the acknowledgement, messaging consumer for the handlers
// (each accepted event is a message, its type the destination), in seconds.
import { carriedWith, type HookSource, type ReceiverHooks, type WebhookEvent } from '@pocketsflow-webhooks/core'
import type { Attributes, Link, Meter, MeterProvider, Span, SpanContext, Tracer, TracerProvider } from '@opentelemetry/api'
import { readInboxDepth } from './depth.js'
import { OTHER, seconds, typeLabeller } from './labels.js'
import { loadPeer } from './peers.js'

type OpenTelemetryApi = typeof import('@opentelemetry/api')

export interface OpenTelemetryHooksOptions {
  /** Default: the global meter provider (`metrics.getMeterProvider()`), which the SDK sets. */
  meterProvider?: MeterProvider
  /** Default: the global tracer provider. `false`: metrics only, no spans. */
  tracerProvider?: TracerProvider | false
}

const SCOPE = '@pocketsflow-webhooks/metrics'
/** The messaging system attribute: the sender (`pocketsflow`, `pocketbook`, `standard-webhooks`). */
const SYSTEM = 'messaging.system'
const DESTINATION = 'messaging.destination.name'
const OPERATION_NAME = 'messaging.operation.name'
const OPERATION_TYPE = 'messaging.operation.type'

/**
 * Hooks that record OpenTelemetry metrics and spans, for a receiver's `hooks` option (beside
 * your own: `hooks: [openTelemetryHooks(), mine]`).
 *
 * Metrics: `http.server.request.duration` (every request the receiver answered, by status),
 * `messaging.client.consumed.messages` (accepted events), `messaging.process.duration` (each
 * handler attempt, `error.type` when it failed), `pocketsflow.webhook.deliveries` (by outcome and
 * rejection reason), `pocketsflow.webhook.dead_letters`, and the gauges
 * `pocketsflow.webhook.dispatch.waiting`, `pocketsflow.webhook.inbox.pending` and
 * `pocketsflow.webhook.inbox.dead_letters`.
 *
 * Spans: `receive {type}` (consumer) for each request the receiver answered, under the request's
 * active span (an error for a rejection, with its reason), and `process {type}` for each handler
 * attempt, linked to the receive span of its event; with a durable inbox, across processes (the
 * trace context is stored with the event).
 */
export function openTelemetryHooks(options: OpenTelemetryHooksOptions = {}): ReceiverHooks {
  const api = loadPeer<OpenTelemetryApi>('@opentelemetry/api', 'openTelemetryHooks()')
  const meter: Meter = (options.meterProvider ?? api.metrics.getMeterProvider()).getMeter(SCOPE)
  const tracer: Tracer | undefined = options.tracerProvider === false ? undefined : (options.tracerProvider ?? api.trace.getTracerProvider()).getTracer(SCOPE)
  const sources = new Set<HookSource>()
  const typeOf = typeLabeller()
  /** Each verified event's receive span, open from its verification to the answer. */
  const receiving = new WeakMap<WebhookEvent, Span>()
  /** Each accepted event's receive span, for the handler attempts' links (in this process). */
  const receivedAs = new WeakMap<WebhookEvent, SpanContext>()

  const requestDuration = meter.createHistogram('http.server.request.duration', {
    unit: 's',
    description: 'Duration of webhook requests, from the receiver first seeing the request to its answer',
  })
  const consumed = meter.createCounter('messaging.client.consumed.messages', { unit: '{message}', description: 'Webhook events accepted' })
  const processDuration = meter.createHistogram('messaging.process.duration', { unit: 's', description: 'Duration of one handler attempt' })
  const deliveries = meter.createCounter('pocketsflow.webhook.deliveries', { unit: '{delivery}', description: 'Webhook deliveries answered, by outcome and rejection reason' })
  const deadLetters = meter.createCounter('pocketsflow.webhook.dead_letters', { unit: '{event}', description: 'Events kept as dead letters' })
  const waiting = meter.createObservableGauge('pocketsflow.webhook.dispatch.waiting', { unit: '{event}', description: 'Accepted events waiting for a dispatch slot' })
  const inboxPending = meter.createObservableGauge('pocketsflow.webhook.inbox.pending', { unit: '{event}', description: 'Events in the durable inbox not finished yet' })
  const inboxDead = meter.createObservableGauge('pocketsflow.webhook.inbox.dead_letters', { unit: '{event}', description: 'Dead letters in the durable inbox' })
  meter.addBatchObservableCallback(
    async (result) => {
      let waitingNow = 0
      for (const source of sources) waitingNow += source.stats?.().waiting ?? 0
      result.observe(waiting, waitingNow)
      // With a deadline; nothing observed when the store could not be read (no stale number).
      const depth = await readInboxDepth(sources)
      if (depth) {
        result.observe(inboxPending, depth.pending)
        result.observe(inboxDead, depth.deadLetters)
      }
    },
    [waiting, inboxPending, inboxDead],
  )

  const messaging = (event: WebhookEvent): Attributes => ({ [SYSTEM]: event.provider, [DESTINATION]: typeOf(event) })

  return {
    observe: (source) => void sources.add(source),
    accepted: (event) => {
      consumed.add(1, { ...messaging(event), [OPERATION_NAME]: 'receive' })
      deliveries.add(1, { [SYSTEM]: event.provider, 'pocketsflow.webhook.outcome': 'accepted' })
    },
    duplicate: (event) => deliveries.add(1, { [SYSTEM]: event.provider, 'pocketsflow.webhook.outcome': 'duplicate' }),
    ignored: (event, { reason }) => deliveries.add(1, { [SYSTEM]: event.provider, 'pocketsflow.webhook.outcome': 'ignored', 'pocketsflow.webhook.reason': reason }),
    rejected: ({ provider, reason }) => deliveries.add(1, { [SYSTEM]: provider, 'pocketsflow.webhook.outcome': 'rejected', 'pocketsflow.webhook.reason': reason }),
    // A verified event's receive span starts here, before the event is claimed or stored, so that
    // a durable inbox stores its context with the event (W3C traceparent) and the worker's process
    // spans link to it, across processes.
    carry: (event) => {
      if (!tracer) return undefined
      const span = tracer.startSpan(`receive ${typeOf(event)}`, {
        kind: api.SpanKind.CONSUMER,
        attributes: { ...messaging(event), 'messaging.message.id': event.id, [OPERATION_NAME]: 'receive', [OPERATION_TYPE]: 'receive' },
      })
      receiving.set(event, span)
      const context = span.spanContext()
      // Without an SDK the API's spans are no-ops with an invalid context: nothing worth storing.
      if (!api.isSpanContextValid(context)) return undefined
      return { traceparent: `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, '0')}` }
    },
    answered: ({ status, durationMs, outcome, reason, provider, event }) => {
      const attributes: Attributes = { 'http.request.method': 'POST', 'http.response.status_code': status }
      if (status >= 500) attributes['error.type'] = String(status)
      requestDuration.record(seconds(durationMs), attributes)
      if (!tracer) return
      // The span carry() opened for a verified event; for a request refused before that, one
      // now, backdated to when the receiver first saw the request, under the request's active span.
      const endTime = Date.now()
      const span =
        (event && receiving.get(event)) ??
        tracer.startSpan(event ? `receive ${typeOf(event)}` : 'receive', {
          kind: api.SpanKind.CONSUMER,
          startTime: endTime - durationMs,
          attributes: { ...(event ? { ...messaging(event), 'messaging.message.id': event.id } : { [SYSTEM]: provider }), [OPERATION_NAME]: 'receive', [OPERATION_TYPE]: 'receive' },
        })
      span.setAttribute('pocketsflow.webhook.outcome', outcome)
      if (reason) span.setAttribute('pocketsflow.webhook.reason', reason)
      if (outcome === 'rejected') span.setStatus({ code: api.SpanStatusCode.ERROR, message: reason ?? String(status) })
      span.end(endTime)
      if (event) receiving.delete(event)
      if (event && outcome === 'accepted') receivedAs.set(event, span.spanContext())
    },
    attempted: (event, { handler, attempt, outcome, durationMs }) => {
      const attributes: Attributes = { ...messaging(event), [OPERATION_NAME]: 'process' }
      if (outcome !== 'ok') attributes['error.type'] = outcome === 'timeout' ? 'timeout' : 'handler_error'
      processDuration.record(seconds(durationMs), attributes)
      if (!tracer) return
      // In the receiving process, its receive span; in an inbox worker's, the one stored with the event.
      const received = receivedAs.get(event) ?? remoteContext(carriedWith(event)?.['traceparent'], api)
      const links: Link[] = received ? [{ context: received }] : []
      const endTime = Date.now()
      const span = tracer.startSpan(`process ${attributes[DESTINATION] ?? OTHER}`, {
        kind: api.SpanKind.CONSUMER,
        startTime: endTime - durationMs,
        links,
        // Not a child of whatever is active when the attempt ends: it ran after the response.
        root: true,
        attributes: {
          ...attributes,
          [OPERATION_TYPE]: 'process',
          'messaging.message.id': event.id,
          'pocketsflow.webhook.handler': handler,
          'pocketsflow.webhook.attempt': attempt,
        },
      })
      if (outcome !== 'ok') span.setStatus({ code: api.SpanStatusCode.ERROR, message: outcome })
      span.end(endTime)
    },
    deadLettered: (event) => deadLetters.add(1, messaging(event)),
  }
}

/** A W3C traceparent (`00-{trace id}-{span id}-{flags}`) as a remote span context; undefined if malformed. */
function remoteContext(traceparent: string | undefined, api: OpenTelemetryApi): SpanContext | undefined {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(traceparent ?? '')
  if (!match) return undefined
  // Only the sampled flag is defined; all-zero ids are invalid.
  const context = { traceId: match[1] as string, spanId: match[2] as string, traceFlags: Number.parseInt(match[3] as string, 16) & 1, isRemote: true }
  return api.isSpanContextValid(context) ? context : undefined
}
