/**
 * Wraps a task so that at most one runs at a time; a call made while one runs is dropped and
 * resolves to false. `listen` diagnoses rejections through it: each diagnosis costs several HMACs
 * over the body, and a flood of forged deliveries must not become that much CPU work per request.
 */
export function oneAtATime<A extends unknown[]>(task: (...args: A) => Promise<void>): (...args: A) => Promise<boolean> {
  let running = false
  return async (...args) => {
    if (running) return false
    running = true
    try {
      await task(...args)
      return true
    } finally {
      running = false
    }
  }
}
