export { PocketsflowWebhookModule, type PocketsflowWebhookModuleAsyncOptions } from './module.js'
export { POCKETSFLOW_WEBHOOK_OPTIONS, type PocketsflowWebhookModuleExtras, type PocketsflowWebhookModuleOptions } from './options.js'
export { PocketsflowWebhookService } from './service.js'
export { PocketsflowWebhookGuard } from './guard.js'
export { OnPocketsflowEvent, type EventFor, type OnPocketsflowEventDecorator } from './on-event.js'
export { PocketsflowEvent, PocketsflowWebhook } from './decorators.js'

export { isEventType, MemoryDedupeStore, WebhookHandlerError } from '@pocketsflow-webhooks/core'
export type {
  AnyEventFor,
  DeadLetter,
  DedupeStore,
  EventHandler,
  HandlerContext,
  InboxProcessor,
  PocketbookEvent,
  Provider,
  ReceiverHooks,
  RetryOptions,
  UnknownPocketsflowEvent,
  WebhookEvent,
  WebhookInbox,
  WebhookReceiver,
} from '@pocketsflow-webhooks/core'
