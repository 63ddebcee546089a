export { bullmqInbox, DEFAULT_CONCURRENCY, DEFAULT_LOCK_DURATION_MS, DEFAULT_QUEUE_NAME, DEFAULT_STALLED_INTERVAL_MS, type BullmqInboxOptions } from './inbox.js'
export { DEFAULT_PENDING_TTL_MS, DEFAULT_RETENTION_MS, redisDedupeStore, type RedisDedupeStoreOptions } from './dedupe.js'
export type { IoredisClient, RedisConnectionOptions } from './connection.js'
