// Run-time payload checks with any Standard Schema v1 validator (zod, valibot, ArkType, …): the
// interface below is the spec's (standardschema.dev), declared here so the core depends on no
// validator library. A payload that fails is never refused: the delivery was acknowledged, and the
// type's handlers fail with a WebhookValidationError instead of running (see handlers.ts).
import { WebhookValidationError, type ValidationIssue } from './errors.js'
import type { WebhookEvent } from './event.js'
import { isThenable, type MaybePromise } from './realm.js'

/** A Standard Schema v1 validator: what zod 3.24+, valibot 1, ArkType 2 and others expose as `~standard`. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1
    readonly vendor: string
    readonly validate: (value: unknown) => StandardSchemaV1.Result<Output> | Promise<StandardSchemaV1.Result<Output>>
    readonly types?: { readonly input: Input; readonly output: Output } | undefined
  }
}

export declare namespace StandardSchemaV1 {
  type Result<Output> = SuccessResult<Output> | FailureResult
  interface SuccessResult<Output> {
    readonly value: Output
    readonly issues?: undefined
  }
  interface FailureResult {
    readonly issues: ReadonlyArray<Issue>
  }
  interface Issue {
    readonly message: string
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined
  }
  interface PathSegment {
    readonly key: PropertyKey
  }
  /** The type a schema's successful validation gives. */
  type InferOutput<Schema extends StandardSchemaV1> = NonNullable<Schema['~standard']['types']>['output']
}

export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  const standard = (value as { '~standard'?: { version?: unknown; validate?: unknown } } | null | undefined)?.['~standard']
  return typeof standard === 'object' && standard !== null && standard.version === 1 && typeof standard.validate === 'function'
}

/**
 * The event with `data` replaced by what the schema gave back (a schema may coerce or add
 * defaults), or a WebhookValidationError when it returned issues. Synchronous when the validator
 * is. A validator that throws (an async one whose lookup failed) or returns no result has given no
 * verdict on the payload: its error is the handler's failure, retried like any other.
 */
export function validateEvent(schema: StandardSchemaV1, event: WebhookEvent, handler: string, attempt: number): MaybePromise<WebhookEvent> {
  const result = schema['~standard'].validate(event.data)
  if (!isThenable(result)) return validated(event, handler, attempt, result)
  return Promise.resolve(result).then((settled) => validated(event, handler, attempt, settled))
}

function validated(event: WebhookEvent, handler: string, attempt: number, result: StandardSchemaV1.Result<unknown>): WebhookEvent {
  if (result === null || typeof result !== 'object') {
    throw new TypeError(`pocketsflow-webhooks: the schema for ${event.type} returned ${String(result)} instead of a Standard Schema result`)
  }
  if (result.issues) throw new WebhookValidationError(event, handler, attempt, Array.from(result.issues, toIssue))
  // The handlers of this type get the schema's output; the event itself (and what an inbox stores) stays as delivered.
  return result.value === event.data ? event : { ...event, data: result.value }
}

function toIssue(issue: StandardSchemaV1.Issue): ValidationIssue {
  const path = (issue.path ?? []).map((segment) => {
    const key = typeof segment === 'object' && segment !== null ? (segment as StandardSchemaV1.PathSegment).key : segment
    return typeof key === 'number' ? key : String(key)
  })
  return { message: String(issue.message), path }
}
