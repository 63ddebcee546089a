// Everything both entry points export that does not depend on the crypto backend.
export type { Body, HeadersInput, HeaderValue, Logger, Provider, RejectionReason, WebhookResponse } from './types.js'
export type {
  AnyEventFor,
  EventOfType,
  PocketbookEvent,
  PocketsflowEvent,
  StandardWebhooksEvent,
  UnknownPocketbookEvent,
  UnknownPocketsflowEvent,
  UntypedEvent,
  VerificationDetail,
  WebhookEvent,
} from './event.js'
export { carriedWith, isEventType, UNTYPED } from './event.js'
export type { DeadLetter, InboxDepth, WebhookInbox } from './inbox.js'
export { startInboxWorker, type InboxWorker, type InboxWorkerOptions } from './inbox-worker.js'
export * from './events/pocketsflow.js'
export * from './events/pocketbook.js'
export { WebhookHandlerError, WebhookHandlerTimeoutError, WebhookReceiverClosedError, WebhookValidationError, type ValidationIssue } from './errors.js'
export type { StandardSchemaV1 } from './schema.js'
export type { ClaimResult, DedupeStore, DuplicateClaim } from './dedupe/store.js'
export {
  DEFAULT_DEDUPE_MAX_ENTRIES,
  DEFAULT_DEDUPE_TTL_MS,
  MemoryDedupeStore,
  type MemoryDedupeStoreOptions,
} from './dedupe/memory.js'
export { DEFAULT_CONCURRENCY, DEFAULT_HANDLER_TIMEOUT_MS } from './dispatch.js'
export type { EventHandler, HandlerContext, HookSource, ReceiverHooks, RetryOptions } from './dispatch.js'
export type { HooksOption } from './hooks.js'
export type { OneOrMany } from './handlers.js'
export { DEFAULT_MAX_DEAD_LETTERS } from './dead-letters.js'
export {
  DEFAULT_BODY_LIMIT,
  DEFAULT_PATH,
  normaliseWebhookPath,
  type CheckedHeaders,
  type HandlerMap,
  type Precheck,
  type SchemaMap,
  type ReceiverResult,
  type ReceiverStats,
  type WebhookReceiver,
  type WebhookReceiverOptions,
  type WebhookRequest,
} from './receiver.js'
export { REJECTION_REASONS, statusForReason } from './responses.js'
export type { HeaderCheck, Verifier, VerifyOptions, VerifyResult } from './verify.js'
export type { SignOptions } from './sign.js'
export { DEFAULT_TOLERANCE_SECONDS } from './timestamp.js'
export { PROVIDERS } from './schemes/index.js'
