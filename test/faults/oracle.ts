// The oracle: given everything a run did (deliveries and their answers, every handler step from the
// receivers' journals, process lives and deaths, store faults, the dead letters at the end), the
// rules of the exactly-once promise, as the core README states them, and what broke them.

export type Mode = 'memory' | 'redis-dedupe' | 'bullmq' | 'postgres'

/** Modes whose events survive the death of the process that acknowledged them. */
export const DURABLE: ReadonlySet<Mode> = new Set(['bullmq', 'postgres'])

export interface JournalEntry {
  readonly k: 'up' | 'start' | 'success' | 'fail' | 'onError' | 'closed' | 'accepted' | 'duplicate'
  readonly pid: number
  readonly t: number
  /** Event id. */
  readonly e?: string
  /** Handler slot (`t0`, `t1`, `c0`…), or for onError the core's handler name. */
  readonly h?: string
  readonly type?: string
  readonly a?: number
}

export interface Delivery {
  readonly eventId: string
  readonly type: string
  readonly pid: number
  readonly sentAt: number
  /** HTTP status, or undefined when the request failed (connection refused, reset, timeout). */
  readonly status: number | undefined
  readonly duplicate: boolean
}

export interface ProcessLife {
  readonly pid: number
  readonly startedAt: number
  /** When the suite sent it a signal, and which. */
  readonly signalledAt?: number
  readonly signal?: 'SIGKILL' | 'SIGTERM'
  readonly exitedAt?: number
  readonly exitCode: number | null
  readonly exitSignal: string | null
}

export interface StoreFault {
  readonly kind: 'lose-reply' | 'drop-request' | 'delay' | 'outage'
  readonly from: number
  readonly to: number
  /** For `delay`: how late each reply was. */
  readonly delayMs?: number
}

export interface DeadLetterSeen {
  readonly id: string
  readonly failedHandlers?: readonly string[]
}

export interface HandlerSetup {
  /** Typed handlers per event type. */
  readonly types: Readonly<Record<string, number>>
  /** Catch-alls. */
  readonly catchAll: number
}

export interface OracleInput {
  readonly mode: Mode
  readonly handlers: HandlerSetup
  readonly leaseMs: number
  readonly deliveries: readonly Delivery[]
  readonly journal: readonly JournalEntry[]
  readonly processes: readonly ProcessLife[]
  readonly storeFaults: readonly StoreFault[]
  readonly deadLetters: readonly DeadLetterSeen[]
}

/**
 * Where a second run (or runs under two types) is documented, not a defect:
 * - `killed`: the process that ran it died (SIGKILL) after the success, before it could be recorded;
 * - `store-away`: the store was unreachable or slow for two-thirds of a lease or more in between
 *   (a lease is renewed every third of it: past that, another worker may take the event over);
 * - `per-process`: in memory, or with the Redis dedupe store, the first run's process had forgotten
 *   the event (it restarted) or kept it as a dead letter of its own (it failed for good there), and
 *   a re-send reached another process.
 */
export type Allowance = 'killed' | 'store-away' | 'per-process'

export interface Violation {
  readonly rule: string
  readonly eventId?: string
  readonly handler?: string
  readonly detail: string
}

export interface OracleReport {
  readonly violations: readonly Violation[]
  readonly stats: {
    readonly acknowledged: number
    readonly handlerRuns: number
    readonly deadLetters: number
    /** Acknowledged events lost with a killed process where the mode is not durable (documented). */
    readonly lostWithProcess: number
    /** Second runs the documented rules allow, by rule (see `Allowance`). */
    readonly inherentReruns: number
    readonly allowed: Readonly<Record<Allowance, number>>
  }
}

/** The core's name for a handler slot: `order.completed`, `order.completed#2`, `onEvent`, `onEvent#2`. */
export function coreHandlerName(type: string, slot: string): string {
  const n = Number(slot.slice(1))
  const base = slot.startsWith('t') ? type : 'onEvent'
  return n === 0 ? base : `${base}#${n + 1}`
}

function slotsFor(setup: HandlerSetup, type: string): string[] {
  const typed = Array.from({ length: setup.types[type] ?? 0 }, (_, i) => `t${i}`)
  const catchAll = Array.from({ length: setup.catchAll }, (_, i) => `c${i}`)
  return [...typed, ...catchAll]
}

/** What a client adds to an outage before it is connected again (see `degraded` below). */
const RECONNECT_SLACK_MS = 200

export function checkRun(input: OracleInput): OracleReport {
  const violations: Violation[] = []
  const lives = new Map(input.processes.map((p) => [p.pid, p]))
  const durable = DURABLE.has(input.mode)
  let lostWithProcess = 0
  let handlerRuns = 0
  const allowed: Record<Allowance, number> = { killed: 0, 'store-away': 0, 'per-process': 0 }

  // No process crashes: every exit is one the suite asked for, and a SIGTERM ends in a clean exit.
  for (const life of input.processes) {
    if (life.exitedAt === undefined) continue
    if (life.signal === undefined) violations.push({ rule: 'no crash', detail: `process ${life.pid} exited on its own (code ${life.exitCode}, signal ${life.exitSignal})` })
    else if (life.signal === 'SIGTERM' && life.exitCode !== 0) {
      violations.push({ rule: 'no crash', detail: `process ${life.pid} did not shut down cleanly on SIGTERM (code ${life.exitCode}, signal ${life.exitSignal})` })
    }
  }

  /** When a process stopped running anything: its exit, or when it was killed. */
  const endOf = (pid: number): number => {
    const life = lives.get(pid)
    return life?.exitedAt ?? (life?.signal === 'SIGKILL' ? (life.signalledAt as number) : Infinity)
  }
  const killedAfter = (pid: number, t: number): boolean => {
    const life = lives.get(pid)
    return life?.signal === 'SIGKILL' && (life.signalledAt as number) >= t
  }
  // Stretches of time the store was away or slow (outages and delayed replies, merged).
  const degraded: [number, number][] = []
  // A delay counts when it is long enough to hold a lease renewal past its time (a third of a lease).
  // An outage lasts, for the clients, until they have reconnected: ioredis waits longer after each
  // failed try (100 ms, doubling), so about as long again as the outage, and a little more.
  const away = (f: StoreFault) => f.kind === 'outage' || (f.kind === 'delay' && (f.delayMs ?? 0) >= input.leaseMs / 3)
  for (const f of [...input.storeFaults].filter(away).sort((a, b) => a.from - b.from)) {
    const to = f.kind === 'outage' ? f.to + (f.to - f.from) + RECONNECT_SLACK_MS : f.to
    const last = degraded.at(-1)
    if (last && f.from <= last[1]) last[1] = Math.max(last[1], to)
    else degraded.push([f.from, to])
  }
  const storeAwayBetween = (from: number, to: number): boolean =>
    degraded.some(([start, end]) => end - start >= (input.leaseMs * 2) / 3 && end >= from && start <= to)
  /** The event had left `pid` when `t` came: the process had stopped, or had failed the event for good. */
  const forgotten = (eventEntries: readonly JournalEntry[], pid: number, t: number): boolean =>
    !durable && ((lives.get(pid)?.exitedAt ?? Infinity) <= t || eventEntries.some((e) => e.k === 'onError' && e.pid === pid && e.t <= t))
  /** Why a second run starting at `t`, after a first in `pid` at `since`, is documented, if it is. */
  const allowance = (eventEntries: readonly JournalEntry[], pid: number, since: number, t: number, againPid: number): Allowance | undefined => {
    if (killedAfter(pid, since)) return 'killed'
    if (storeAwayBetween(since, t)) return 'store-away'
    if (againPid !== pid && forgotten(eventEntries, pid, t)) return 'per-process'
    return undefined
  }

  const byEvent = new Map<string, JournalEntry[]>()
  for (const entry of input.journal) {
    if (entry.e === undefined) continue
    const list = byEvent.get(entry.e) ?? []
    list.push(entry)
    byEvent.set(entry.e, list)
  }
  const letters = new Map(input.deadLetters.map((l) => [l.id, l]))
  const acknowledged = new Map<string, Delivery[]>()
  for (const d of input.deliveries) {
    if (d.status !== 200) continue
    const list = acknowledged.get(d.eventId) ?? []
    list.push(d)
    acknowledged.set(d.eventId, list)
  }

  // Every event that was acknowledged, or that ran without being acknowledged (a claim that landed
  // after its 503 is processed): the second kind need not run, but runs once too.
  for (const eventId of new Set([...acknowledged.keys(), ...byEvent.keys()])) {
    const acks = acknowledged.get(eventId) ?? []
    const entries = byEvent.get(eventId) ?? []
    const starts = entries.filter((e) => e.k === 'start')
    const ranAs = new Set(starts.map((e) => e.type as string))
    if (ranAs.size > 1) {
      const first = starts[0] as JournalEntry
      const other = starts.find((e) => e.type !== first.type) as JournalEntry
      const why = allowance(entries, first.pid, first.t, other.t, other.pid)
      if (why) allowed[why]++
      else violations.push({ rule: 'one type per event', eventId, detail: `handlers ran under ${[...ranAs].join(' and ')}` })
    }
    const type = [...ranAs][0] ?? (acks.find((d) => !d.duplicate) ?? acks[0])?.type
    if (type === undefined) continue
    const letter = letters.get(eventId)
    // The processes that may hold its claim: those that ran or accepted it, and those that got it and
    // died before they answered (their claim may have landed).
    const unanswered = input.deliveries.filter((d) => d.eventId === eventId && d.status === undefined && killedAfter(d.pid, d.sentAt)).map((d) => d.pid)
    const holders = new Set([...entries.filter((e) => e.k === 'start').map((e) => e.pid), ...acks.filter((d) => !d.duplicate).map((d) => d.pid), ...unanswered])
    for (const slot of slotsFor(input.handlers, type)) {
      const name = coreHandlerName(type, slot)
      const mine = entries.filter((e) => e.h === slot)
      const successes = mine.filter((e) => e.k === 'success').sort((a, b) => a.t - b.t)
      handlerRuns += mine.filter((e) => e.k === 'start').length

      // Each handler succeeds once, or the event is a dead letter (in memory: reported to onError
      // by a process that shut down, or lost with a process that was killed: not durable).
      if (successes.length === 0) {
        if (acks.length === 0) continue
        const listed = letter !== undefined && (letter.failedHandlers === undefined || letter.failedHandlers.length === 0 || letter.failedHandlers.includes(name))
        const reported = entries.some((e) => e.k === 'onError' && e.h === name && lives.get(e.pid)?.signal !== undefined)
        if (listed || (!durable && reported)) continue
        if (!durable && [...holders].some((pid) => lives.get(pid)?.signal === 'SIGKILL')) {
          lostWithProcess++
          continue
        }
        violations.push({
          rule: 'acknowledged events are handled or dead letters',
          eventId,
          handler: name,
          detail: `acknowledged (${acks.map((d) => (d.duplicate ? '200 duplicate' : '200')).join(', ')}), never succeeded, not a dead letter${letter ? ` (the letter names ${JSON.stringify(letter.failedHandlers)})` : ''}`,
        })
        continue
      }
      if (letter?.failedHandlers?.includes(name)) {
        violations.push({ rule: 'a dead letter names only handlers that failed', eventId, handler: name, detail: 'succeeded, yet named failed by its dead letter' })
      }
      // A handler that succeeded never runs (to success) again, but where the documented rule says so.
      for (let i = 1; i < successes.length; i++) {
        const before = successes[i - 1] as JournalEntry
        const again = successes[i] as JournalEntry
        const startOf = (s: JournalEntry) => mine.filter((e) => e.k === 'start' && e.pid === s.pid && e.a === s.a && e.t <= s.t).at(-1)?.t ?? s.t
        // From the start of the first run: a lease lost while it ran is as documented as one lost after.
        const why = allowance(entries, before.pid, startOf(before), startOf(again), again.pid)
        if (why) {
          allowed[why]++
          continue
        }
        violations.push({ rule: 'a handler that succeeded never runs again', eventId, handler: name, detail: `succeeded at ${before.t} (pid ${before.pid}, attempt ${before.a}) and again at ${again.t} (pid ${again.pid}, attempt ${again.a})` })
      }

      // Two attempts of one handler for one event never run at the same time.
      const attempts = mine
        .filter((e) => e.k === 'start')
        .map((start) => {
          const end = mine.find((e) => (e.k === 'success' || e.k === 'fail') && e.pid === start.pid && e.a === start.a && e.t >= start.t)
          return { start, end: Math.min(end?.t ?? Infinity, endOf(start.pid)) }
        })
        .sort((a, b) => a.start.t - b.start.t)
      for (let i = 1; i < attempts.length; i++) {
        const later = attempts[i] as (typeof attempts)[number]
        const overlapping = attempts.slice(0, i).find((a) => a.end > later.start.t)
        if (!overlapping) continue
        const why = storeAwayBetween(overlapping.start.t, later.start.t) ? 'store-away' : undefined
        if (why) {
          allowed[why]++
          continue
        }
        violations.push({
          rule: 'attempts never overlap',
          eventId,
          handler: name,
          detail: `attempt ${overlapping.start.a} (pid ${overlapping.start.pid}) from ${overlapping.start.t} still running when attempt ${later.start.a} (pid ${later.start.pid}) began at ${later.start.t}`,
        })
      }
    }
  }

  return {
    violations,
    stats: {
      acknowledged: acknowledged.size,
      handlerRuns,
      deadLetters: input.deadLetters.length,
      lostWithProcess,
      inherentReruns: allowed.killed + allowed['store-away'] + allowed['per-process'],
      allowed,
    },
  }
}
