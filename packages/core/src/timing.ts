// Waiting, for the packages built on the core (inbox engines), so each does not carry its own.

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Whether `promise` settled (fulfilled or rejected) within `ms`; `Infinity` waits as long as it
 * takes. Never rejects, and leaves no timer behind.
 */
export function settledWithin(promise: PromiseLike<unknown>, ms: number): Promise<boolean> {
  const settled = Promise.resolve(promise).then(
    () => true,
    () => true,
  )
  if (ms === Infinity) return settled
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([settled, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]).finally(() =>
    clearTimeout(timer),
  )
}
