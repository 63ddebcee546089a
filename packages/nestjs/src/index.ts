export { PocketsflowWebhookModule, type PocketsflowWebhookModuleAsyncOptions } from './module.js'
export { POCKETSFLOW_WEBHOOK_OPTIONS, type PocketsflowWebhookModuleExtras, type PocketsflowWebhookModuleOptions } from './options.js'
export { PocketsflowWebhookService } from './service.js'
export { PocketsflowWebhookGuard } from './guard.js'
export { OnPocketsflowEvent, type EventFor, type OnPocketsflowEventDecorator } from './on-event.js'
export { PocketsflowEvent, PocketsflowWebhook } from './decorators.js'

// The core's application surface (types, isEventType, MemoryDedupeStore, signWebhook, …), as every
// adapter re-exports it: users of this adapter need no second dependency for them. This package's
// own names (the PocketsflowEvent parameter decorator and its event type) take precedence.
export * from '@pocketsflow-webhooks/core'
