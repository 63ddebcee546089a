// `@pocketsflow-webhooks/core/inbox`: what packages built on the core need and applications do not
// (inbox engines such as @pocketsflow-webhooks/redis and /postgres, adapters): the processor an
// inbox's workers run, an event's stored text form, error and logger helpers, backoff, waiting,
// option checks, the Fetch glue for adapters built on Request, and the payload check by schema
// (for the CLI's `verify --schema`). The root entry keeps the
// application's surface.
export { DEFAULT_RETENTION_MS, type DeadLetter, type InboxAttempt, type InboxDepth, type InboxOutcome, type InboxProcessor, type WebhookInbox } from './inbox.js'
export type { ClaimResult, DedupeStore, DuplicateClaim } from './dedupe/store.js'
export type { Logger } from './types.js'
export type { WebhookEvent } from './event.js'
export { parseEvent, serializeEvent, storableText } from './event.js'
export { describeThrown, WebhookReceiverClosedError } from './errors.js'
export { backoffDelay } from './dispatch.js'
export { consoleLogger, resolveLogger, silentLogger } from './logger.js'
export { positiveNumber } from './option-checks.js'
export { settledWithin, sleep } from './timing.js'
export { signatureHeaderOf } from './schemes/index.js'
export { fetchHandlerFor, holdHost, receiveFetchRequest, refusedHold, toResponse, type HostHold, type WaitUntil } from './fetch.js'
export { isStandardSchema, validateEvent } from './schema.js'
