// When the handlers run, relative to the 200. Shared by the App Router (Node and Edge) and the
// Pages Router handlers. Pocketsflow never re-sends an event, so the one rule here is: never leave
// the handlers' promise to an instance that may be frozen once the response is out.
import type { Logger } from '@pocketsflow-webhooks/core'

/**
 * - `'after'`: Next's `after()` (Next.js 15.1+) runs the handlers once the response is sent, and
 *   keeps the function instance alive until they finish.
 * - `'waitUntil'`: the handlers start right after the response is handed over, and their promise is
 *   given to your host's `waitUntil` (Vercel's `@vercel/functions`, Cloudflare's `ctx.waitUntil`).
 * - `'inline'`: the handlers finish before the 200 is sent, so they count against Pocketsflow's 5 s.
 */
export type Schedule = 'after' | 'waitUntil' | 'inline'

/** A host's `waitUntil`: keeps the instance alive until the promise settles. */
export type WaitUntil = (promise: Promise<unknown>) => void

export interface ScheduleOptions {
  /**
   * When the handlers run. Default: `'after'` where Next exports `after()` (15.1+), otherwise
   * `'waitUntil'` when `waitUntil` is given, otherwise `'inline'`. Where `after()` can't be used at
   * request time (outside a request scope, as in a unit test), `waitUntil` is used if given, else `'inline'`.
   */
  schedule?: Schedule
  /** Your host's `waitUntil`, e.g. `import { waitUntil } from '@vercel/functions'`. */
  waitUntil?: WaitUntil
}

/** Next's `after(task)`: runs `task` once the response is sent; throws outside a request scope. */
export type NextAfter = (task: () => unknown) => void

const SCHEDULES: readonly Schedule[] = ['after', 'waitUntil', 'inline']

/** Runs `after` (the receiver's handler work) per the mode: returns a promise to await before responding, or nothing. */
export type Scheduler = (after: () => Promise<void>, responded?: Promise<void>) => Promise<void> | undefined

export function createScheduler(
  options: ScheduleOptions,
  logger: Logger,
  after: NextAfter | undefined,
  allowed: readonly Schedule[] = SCHEDULES,
): Scheduler & { readonly mode: Schedule } {
  if (options === null || typeof options !== 'object') throw new TypeError('pocketsflow-webhooks: options are required')
  const { waitUntil } = options
  if (waitUntil !== undefined && typeof waitUntil !== 'function') {
    throw new TypeError('pocketsflow-webhooks: "waitUntil" must be a function, e.g. waitUntil from @vercel/functions')
  }
  const requested = options.schedule
  if (requested !== undefined && !allowed.includes(requested)) {
    throw new TypeError(
      `pocketsflow-webhooks: "schedule" must be ${allowed.map((s) => `'${s}'`).join(' or ')}, got ${JSON.stringify(requested)}` +
        (requested === 'after' ? ": Next.js runs after() callbacks in the App Router only; use waitUntil or 'inline' here" : ''),
    )
  }
  if (requested === 'waitUntil' && !waitUntil) {
    throw new TypeError(`pocketsflow-webhooks: schedule: 'waitUntil' needs the host's waitUntil function as the "waitUntil" option`)
  }
  if (requested === 'after' && !after) {
    throw new TypeError(
      `pocketsflow-webhooks: schedule: 'after' needs Next.js 15.1 or later (this next/server exports no after()). ` +
        `Leave "schedule" unset to fall back to waitUntil (if given) or to running the handlers before the 200.`,
    )
  }
  const mode: Schedule = requested ?? (after && allowed.includes('after') ? 'after' : waitUntil ? 'waitUntil' : 'inline')

  function viaWaitUntil(work: () => Promise<void>, responded: Promise<void> | undefined): boolean {
    if (!waitUntil) return false
    // The work must not start before waitUntil accepted it: if waitUntil throws, it runs inline instead.
    let start: () => void = () => {}
    const gate = new Promise<void>((resolve) => (start = resolve))
    try {
      waitUntil(gate.then(work))
    } catch (error) {
      logger.warn({ err: error }, 'waitUntil() threw: running the webhook handlers before responding instead')
      return false
    }
    // Fetch-style handlers can't see the response leave; a macrotask lets the host take it first,
    // so a handler's synchronous start never delays the 200.
    if (responded) void responded.then(start)
    else setTimeout(start, 0)
    return true
  }

  const scheduler: Scheduler = (work, responded) => {
    if (mode === 'after' && after) {
      try {
        after(() => work())
        return undefined
      } catch (error) {
        // Outside Next's request scope (a unit test calling the route handler, a custom server)
        // after() throws. The handlers must still run: fall back, in the documented order.
        logger.debug(
          { err: error },
          `Next.js after() is not available here: ${waitUntil ? 'handing the webhook handlers to waitUntil' : 'running the webhook handlers before responding'}`,
        )
      }
    }
    if (mode !== 'inline' && viaWaitUntil(work, responded)) return undefined
    return work()
  }
  return Object.assign(scheduler, { mode })
}
