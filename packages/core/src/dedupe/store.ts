/**
 * Where the receiver remembers which events it has taken on. Three steps, because an event that
 * failed for good must be processable again if someone re-sends it from the dashboard:
 *
 * - `claim(key)` before the acknowledgement: atomically records the key and returns `true`, or
 *   returns `false` when the key is already claimed or done (a duplicate). Must be atomic across
 *   every receiver that shares the store.
 * - `complete(key)` after the handlers succeeded: keep the key for the retention period.
 * - `release(key)` after the handlers failed for good: forget the key.
 *
 * Methods may answer synchronously or with a promise. A claim that throws makes the receiver
 * answer 503, so the sender (or a person) can try again: nothing is acknowledged unrecorded.
 */
export interface DedupeStore {
  claim(key: string): boolean | Promise<boolean>
  complete(key: string): void | Promise<void>
  release(key: string): void | Promise<void>
  /** Optional: release connections. Called by the receiver's `close()`. */
  close?(): void | Promise<void>
}
