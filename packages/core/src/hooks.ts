// The `hooks` option: one object of hooks, or a list of them (a metrics package's beside the
// app's own). A list is merged into one object whose hooks call each in turn, each on its own:
// one that throws is logged and does not keep the others from running. Without hooks, nothing.
import { callHook, type ReceiverHooks } from './dispatch.js'
import { stringsOnly } from './event.js'
import { isThenable } from './realm.js'
import type { Logger } from './types.js'

export type HooksOption<E> = ReceiverHooks<E> | readonly ReceiverHooks<E>[]

const HOOK_NAMES = [
  'accepted',
  'duplicate',
  'rejected',
  'ignored',
  'handled',
  'failed',
  'deadLettered',
  'attempted',
  'answered',
  'observe',
] as const satisfies readonly (keyof ReceiverHooks)[]

export function resolveHooks(option: HooksOption<never> | undefined, logger: Logger): ReceiverHooks {
  if (option === undefined) return {}
  if (!Array.isArray(option)) {
    if (option === null || typeof option !== 'object') throw new TypeError('pocketsflow-webhooks: "hooks" must be an object of hooks, or an array of them')
    return option as ReceiverHooks
  }
  const list = option as readonly ReceiverHooks[]
  list.forEach((hooks, i) => {
    if (hooks === null || typeof hooks !== 'object') throw new TypeError(`pocketsflow-webhooks: hooks[${i}] must be an object of hooks`)
  })
  if (list.length === 1) return list[0] as ReceiverHooks
  const merged: Record<string, (...args: unknown[]) => unknown> = {}
  const carriers = list.map((hooks) => hooks.carry).filter((carry) => typeof carry === 'function')
  if (carriers.length > 0) {
    // Each one's strings, merged in order.
    merged['carry'] = (event: unknown) => {
      let carried: Record<string, string> | undefined
      for (const carry of carriers) {
        const strings = carriedBy(carry, event, logger)
        if (strings) carried = { ...carried, ...strings }
      }
      return carried
    }
  }
  for (const name of HOOK_NAMES) {
    const each = list.map((hooks) => hooks[name] as ((...args: unknown[]) => unknown) | undefined).filter((hook) => typeof hook === 'function')
    if (each.length === 0) continue
    merged[name] = (...args) => {
      for (const hook of each) callHook(logger, name, () => hook(...args))
    }
  }
  return merged as ReceiverHooks
}

/**
 * What one `carry` hook returned for an event: synchronous, a plain object of short strings
 * (`stringsOnly`); anything else is dropped and logged. Never throws, never leaves a rejection
 * unhandled.
 */
export function carriedBy(carry: (event: never) => unknown, event: unknown, logger: Logger): Record<string, string> | undefined {
  try {
    const carried = carry(event as never)
    if (isThenable(carried)) {
      Promise.resolve(carried).catch(() => {})
      logger.error({ hook: 'carry' }, 'the carry hook returned a promise: it must return its strings at once; nothing carried')
      return undefined
    }
    return stringsOnly(carried)
  } catch (error) {
    logger.error({ err: error, hook: 'carry' }, 'the carry hook threw')
    return undefined
  }
}
