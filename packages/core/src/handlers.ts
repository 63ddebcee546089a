import type { EventHandler } from './dispatch.js'
import { canonicalPocketsflowType, isPocketsflowEventType } from './events/pocketsflow.js'
import { isPocketbookEventType } from './events/pocketbook.js'
import { isThenable } from './realm.js'
import { isStandardSchema, validateEvent, type StandardSchemaV1 } from './schema.js'
import type { Logger, Provider } from './types.js'

/**
 * One handler of an event, under the name its completion is recorded by: the event type for the
 * first handler of a type (`order.completed`), then `order.completed#2`, `#3`…; `onEvent`,
 * `onEvent#2`… for the catch-alls. Names are positions, so that a web process and a worker built
 * from the same options agree on them: appending a handler is safe while events are being retried,
 * reordering or removing one is not (a retry could skip or repeat the one that moved).
 */
export interface NamedHandler {
  readonly name: string
  readonly run: EventHandler
}

/** The handlers of every event type, in the order they run: the typed ones, then the catch-alls. */
export interface HandlerTable {
  /** Never empty for a type that has handlers; the same array every time. */
  forType(type: string): readonly NamedHandler[]
  /** How many handlers there are in all: 0 means this process only records. */
  readonly count: number
}

/** `on` values and `onEvent`: a function, or an array of them. */
export type OneOrMany<T> = T | readonly T[]

export function buildHandlerTable(
  provider: Provider,
  on: Readonly<Record<string, unknown>> | undefined,
  onEvent: unknown,
  logger: Logger,
  schemas?: Readonly<Record<string, unknown>>,
): HandlerTable {
  if (on !== undefined && (on === null || typeof on !== 'object' || Array.isArray(on))) {
    throw new TypeError('pocketsflow-webhooks: "on" must be an object of handlers per event type')
  }
  const schemaOf = schemasByType(provider, schemas)
  const catchAll = named('onEvent', onEvent, '"onEvent"')
  const byType = new Map<string, readonly NamedHandler[]>()
  const registeredAs = new Map<string, string>()
  let count = catchAll.length
  for (const key of Object.keys(on ?? {})) {
    const type = provider === 'pocketsflow' ? canonicalPocketsflowType(key) : key
    const schema = schemaOf.get(type)?.schema
    const typed = named(type, (on as Record<string, unknown>)[key], `on[${JSON.stringify(key)}]`).map((handler) =>
      schema ? checkedBy(schema, handler) : handler,
    )
    if (typed.length === 0) continue
    const other = registeredAs.get(type)
    if (other !== undefined) {
      throw new TypeError(
        `pocketsflow-webhooks: on[${JSON.stringify(other)}] and on[${JSON.stringify(key)}] are the same event (${type}); give one key an array of handlers`,
      )
    }
    registeredAs.set(type, key)
    byType.set(type, [...typed, ...catchAll])
    count += typed.length
    const known = provider === 'pocketsflow' ? isPocketsflowEventType(type) : provider === 'pocketbook' ? isPocketbookEventType(type) : true
    if (!known) {
      logger.warn({ type: key }, `on[${JSON.stringify(key)}] is not a known ${provider} event type; it runs only if one arrives with exactly that type`)
    }
  }
  for (const [type, { key }] of schemaOf) {
    if (count > 0 && !registeredAs.has(type)) {
      logger.warn({ type: key }, `schemas[${JSON.stringify(key)}] has no handler in "on": nothing checks it (onEvent handlers are not checked)`)
    }
  }
  return {
    forType: (type) => byType.get(type) ?? catchAll,
    count,
  }
}

/** `schemas` by canonical type, each a Standard Schema, with the key as it was given (for messages). */
function schemasByType(provider: Provider, schemas: Readonly<Record<string, unknown>> | undefined): Map<string, { schema: StandardSchemaV1; key: string }> {
  const byType = new Map<string, { schema: StandardSchemaV1; key: string }>()
  if (schemas === undefined) return byType
  if (schemas === null || typeof schemas !== 'object' || Array.isArray(schemas)) {
    throw new TypeError('pocketsflow-webhooks: "schemas" must be an object of Standard Schema validators per event type')
  }
  for (const key of Object.keys(schemas)) {
    const schema = schemas[key]
    if (schema === undefined) continue
    if (!isStandardSchema(schema)) {
      throw new TypeError(
        `pocketsflow-webhooks: schemas[${JSON.stringify(key)}] is not a Standard Schema (v1) validator: use zod 3.24+, valibot 1, ArkType 2 or another that implements it`,
      )
    }
    const type = provider === 'pocketsflow' ? canonicalPocketsflowType(key) : key
    const other = byType.get(type)
    if (other) throw new TypeError(`pocketsflow-webhooks: schemas[${JSON.stringify(other.key)}] and schemas[${JSON.stringify(key)}] are the same event (${type})`)
    byType.set(type, { schema, key })
  }
  return byType
}

/**
 * The handler behind its type's schema: it runs with the event whose `data` the schema returned,
 * and a payload that fails never reaches it (the WebhookValidationError is its failure).
 */
function checkedBy(schema: StandardSchemaV1, handler: NamedHandler): NamedHandler {
  return {
    name: handler.name,
    run: (event, ctx) => {
      const checked = validateEvent(schema, event, handler.name, ctx.attempt)
      if (!isThenable(checked)) return handler.run(checked, ctx)
      // An async validator may outlast its attempt (time limit, close(), a lost claim): the attempt
      // ends when the signal aborts, and the handler, which has not started, never does.
      return untilAborted(checked, ctx.signal).then((valid) => {
        if (ctx.signal.aborted) throw ctx.signal.reason
        return handler.run(valid, ctx)
      })
    },
  }
}

/** `work`, or the signal's reason as soon as it aborts. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error)
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error as Error)
      },
    )
  })
}

/** A handler or a list of them, validated and named; `undefined` entries stand for none. */
function named(base: string, value: unknown, where: string): NamedHandler[] {
  if (value === undefined) return []
  const list: readonly unknown[] = Array.isArray(value) ? value : [value]
  const handlers: NamedHandler[] = []
  list.forEach((run, i) => {
    if (typeof run !== 'function') {
      throw new TypeError(`pocketsflow-webhooks: ${where}${Array.isArray(value) ? `[${i}]` : ''} must be a function${Array.isArray(value) ? '' : ' or an array of functions'}`)
    }
    handlers.push({ name: handlers.length === 0 ? base : `${base}#${handlers.length + 1}`, run: run as EventHandler })
  })
  return handlers
}
