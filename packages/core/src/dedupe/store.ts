/** `true`: claimed. Otherwise a duplicate: `false`, or the type the key was first claimed with. */
export type ClaimResult = boolean | DuplicateClaim

export interface DuplicateClaim {
  readonly firstType: string
}

/**
 * Where the receiver remembers which events it has taken on. Three steps, because an event that
 * failed for good must be processable again if someone re-sends it from the dashboard:
 *
 * - `claim(key, type)` before the acknowledgement: atomically records the key and returns `true`,
 *   or, when the key is already claimed or done (a duplicate), `false` or, better, the type it was
 *   first claimed with (`{ firstType }`): the receiver warns when a duplicate arrives under another
 *   type (the Pocketsflow type header is not signed, so that is someone replaying a body). Must be
 *   atomic across every receiver that shares the store, and must not turn a claim of its own whose
 *   reply was lost (a dropped connection, a client re-sending the command) into a duplicate. A
 *   claim that fails (throws, rejects) may have landed all the same: the store must undo it, or
 *   let its next claim of the key win, so that a re-send is not answered "duplicate" and lost.
 * - `complete(key)` after the handlers succeeded: keep the key for the retention period.
 * - `release(key)` after the handlers failed for good: forget the key.
 *
 * Methods may answer synchronously or with a promise. A claim that throws makes the receiver
 * answer 503, so the sender (or a person) can try again: nothing is acknowledged unrecorded.
 */
export interface DedupeStore {
  claim(key: string, type: string): ClaimResult | Promise<ClaimResult>
  complete(key: string): void | Promise<void>
  release(key: string): void | Promise<void>
  /** Optional: release connections. Called by the receiver's `close()`. */
  close?(): void | Promise<void>
}
