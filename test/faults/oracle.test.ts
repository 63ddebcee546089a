// The suite must be able to fail. First the oracle's rules on hand-made runs, then the whole suite
// against deliberately broken doubles (receiver.mjs, BROKEN=…), one per defect class of the
// exactly-once issue: each must be caught.
import { describe, expect, it } from 'vitest'
import { checkRun, coreHandlerName, type JournalEntry, type OracleInput } from './oracle.js'
import { runFaults } from './run.js'

const base: OracleInput = {
  mode: 'postgres',
  handlers: { types: { 'order.completed': 2 }, catchAll: 1 },
  leaseMs: 1000,
  deliveries: [{ eventId: 'e1', type: 'order.completed', pid: 1, sentAt: 0, status: 200, duplicate: false }],
  journal: [],
  processes: [{ pid: 1, startedAt: 0, exitCode: 0, exitSignal: null }],
  storeFaults: [],
  deadLetters: [],
}

const step = (k: JournalEntry['k'], h: string, t: number, extra: Partial<JournalEntry> = {}): JournalEntry => ({ k, h, t, e: 'e1', type: 'order.completed', a: 1, pid: 1, ...extra })
const ranOnce = (h: string, t: number, extra: Partial<JournalEntry> = {}) => [step('start', h, t, extra), step('success', h, t + 1, extra)]
const allOnce = [...ranOnce('t0', 10), ...ranOnce('t1', 20), ...ranOnce('c0', 30)]
const rules = (input: Partial<OracleInput>) => checkRun({ ...base, ...input }).violations.map((v) => v.rule)

describe('the oracle', () => {
  it('names handlers as the core does', () => {
    expect(['t0', 't1', 't2', 'c0', 'c1'].map((slot) => coreHandlerName('order.completed', slot))).toEqual([
      'order.completed',
      'order.completed#2',
      'order.completed#3',
      'onEvent',
      'onEvent#2',
    ])
  })

  it('passes a run where each handler succeeded once', () => {
    expect(rules({ journal: allOnce })).toEqual([])
  })

  it('flags an acknowledged event whose handler never succeeded and is no dead letter; a letter naming it passes', () => {
    const journal = [...ranOnce('t0', 10), ...ranOnce('c0', 30)]
    expect(rules({ journal })).toEqual(['acknowledged events are handled or dead letters'])
    expect(rules({ journal, deadLetters: [{ id: 'e1', failedHandlers: ['order.completed#2'] }] })).toEqual([])
  })

  it('flags a duplicate acknowledged for an event nobody processed', () => {
    expect(rules({ deliveries: [{ ...base.deliveries[0]!, duplicate: true }] })).toContain('acknowledged events are handled or dead letters')
  })

  it('allows a loss with a killed process only where the mode is not durable', () => {
    const processes = [{ pid: 1, startedAt: 0, signalledAt: 5, signal: 'SIGKILL' as const, exitedAt: 6, exitCode: null, exitSignal: 'SIGKILL' }]
    expect(rules({ mode: 'redis-dedupe', processes })).toEqual([])
    expect(rules({ mode: 'bullmq', processes })).toContain('acknowledged events are handled or dead letters')
  })

  it('allows a loss with a process killed while it was still answering the delivery (its claim may have landed), only where the mode is not durable', () => {
    const processes = [
      { pid: 1, startedAt: 0, signalledAt: 50, signal: 'SIGKILL' as const, exitedAt: 51, exitCode: null, exitSignal: 'SIGKILL' },
      { pid: 2, startedAt: 0, exitCode: 0, exitSignal: null },
    ]
    const deliveries = [
      { eventId: 'e1', type: 'order.completed', pid: 1, sentAt: 10, status: undefined, duplicate: false },
      { eventId: 'e1', type: 'order.completed', pid: 2, sentAt: 100, status: 200, duplicate: true },
    ]
    expect(rules({ mode: 'redis-dedupe', processes, deliveries })).toEqual([])
    expect(rules({ mode: 'postgres', processes, deliveries })).toContain('acknowledged events are handled or dead letters')
  })

  it('flags a handler that succeeded twice, unless its process died after the first success or the store was away past a lease', () => {
    const twice = [...allOnce, ...ranOnce('t0', 100, { pid: 2, a: 2 })]
    const processes = [...base.processes, { pid: 2, startedAt: 50, exitCode: 0, exitSignal: null }]
    expect(rules({ journal: twice, processes })).toEqual(['a handler that succeeded never runs again'])
    const killed = [{ pid: 1, startedAt: 0, signalledAt: 40, signal: 'SIGKILL' as const, exitedAt: 41, exitCode: null, exitSignal: 'SIGKILL' }, processes[1]!]
    expect(rules({ journal: twice, processes: killed })).toEqual([])
    expect(rules({ journal: twice, processes, storeFaults: [{ kind: 'outage', from: 15, to: 1200 }] })).toEqual([])
    expect(rules({ journal: twice, processes, storeFaults: [{ kind: 'outage', from: 15, to: 150 }] })).toEqual(['a handler that succeeded never runs again'])
  })

  it('allows a re-run in another process only where a process forgets (in memory, the Redis dedupe store): after a restart, or a failure for good there', () => {
    const twice = [...allOnce, ...ranOnce('t0', 100, { pid: 2 })]
    const exited = [{ pid: 1, startedAt: 0, signalledAt: 40, signal: 'SIGTERM' as const, exitedAt: 50, exitCode: 0, exitSignal: null }, { pid: 2, startedAt: 60, exitCode: 0, exitSignal: null }]
    expect(rules({ mode: 'memory', journal: twice, processes: exited })).toEqual([])
    expect(rules({ mode: 'postgres', journal: twice, processes: exited })).toEqual(['a handler that succeeded never runs again'])
    const failedThere = [...twice, step('onError', 'order.completed#2', 45)]
    const both = [...base.processes, { pid: 2, startedAt: 0, exitCode: 0, exitSignal: null }]
    expect(rules({ mode: 'redis-dedupe', journal: failedThere, processes: both })).toEqual([])
    expect(rules({ mode: 'redis-dedupe', journal: twice, processes: both })).toEqual(['a handler that succeeded never runs again'])
  })

  it('flags attempts of one handler that overlap', () => {
    const journal = [step('start', 't0', 10), step('start', 't0', 20, { a: 2, pid: 2 }), step('fail', 't0', 30), step('success', 't0', 40, { a: 2, pid: 2 }), ...ranOnce('t1', 50), ...ranOnce('c0', 60)]
    const processes = [...base.processes, { pid: 2, startedAt: 0, exitCode: 0, exitSignal: null }]
    expect(rules({ journal, processes })).toEqual(['attempts never overlap'])
  })

  it('flags an event run under two types, a dead letter naming a handler that succeeded, and a process that crashed', () => {
    expect(rules({ journal: [...allOnce, step('start', 'c0', 70, { type: 'order.refunded' })] })).toContain('one type per event')
    expect(rules({ journal: allOnce, deadLetters: [{ id: 'e1', failedHandlers: ['order.completed'] }] })).toEqual(['a dead letter names only handlers that failed'])
    expect(rules({ journal: allOnce, processes: [{ pid: 1, startedAt: 0, exitedAt: 90, exitCode: 1, exitSignal: null }] })).toEqual(['no crash'])
  })

  it('asks nothing of an event answered 503 that nobody ran, and a run of it once', () => {
    expect(rules({ deliveries: [{ ...base.deliveries[0]!, status: 503 }] })).toEqual([])
    expect(rules({ deliveries: [{ ...base.deliveries[0]!, status: 503 }], journal: allOnce })).toEqual([])
  })
})

describe('the suite catches each defect class put back (broken doubles)', () => {
  it.each([
    ['duplicate-store', 'a store that answers "duplicate" for an event nobody processed', 'acknowledged events are handled or dead letters'],
    ['rerun-dispatch', 'retries that re-run handlers that succeeded', 'a handler that succeeded never runs again'],
    ['no-wait-dispatch', 'retries that do not wait for an attempt past its time limit', 'attempts never overlap'],
  ])('%s: %s', { timeout: 60_000 }, async (broken, _what, rule) => {
    const handlers = { types: { 'order.completed': 3, 'order.refunded': 3 }, catchAll: 1 }
    const result = await runFaults({ seed: 7, mode: 'memory', adapter: 'express', broken, processFaults: false, events: 24, durationMs: 1500, handlers })
    expect(result.report.violations.map((v) => v.rule)).toContain(rule)
  })
})
