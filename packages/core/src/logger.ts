import type { Logger } from './types.js'

const noop = () => {}
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop }

/** One line per record: `[pocketsflow-webhooks] message {"reason":…}`, with an error's stack after it. */
function line(write: (...args: unknown[]) => void) {
  return (obj: object, msg?: string) => {
    const { err, ...rest } = obj as { err?: unknown }
    let fields = ''
    try {
      fields = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : ''
    } catch {
      fields = ' [fields not serializable]'
    }
    if (err === undefined) write(`[pocketsflow-webhooks] ${msg ?? ''}${fields}`)
    else write(`[pocketsflow-webhooks] ${msg ?? ''}${fields}`, err)
  }
}

/**
 * Without a logger, rejections and failures still reach the console: a silently rejected
 * Pocketsflow event is never re-sent, so whoever runs the receiver has to be able to see it.
 */
export const consoleLogger: Logger = {
  debug: noop,
  info: noop,
  warn: line((...args) => console.warn(...args)),
  error: line((...args) => console.error(...args)),
}

/**
 * A user's logger is called on every path, so one that throws or lacks a method must not cost a
 * delivery: each method is wrapped, and missing ones are no-ops. Methods keep their `this` (pino).
 */
export function resolveLogger(logger: Logger | false | undefined): Logger {
  if (logger === false) return silentLogger
  if (logger === undefined || logger === null) return consoleLogger
  const wrap = (name: keyof Logger) => {
    const method = (logger as Partial<Logger>)[name]
    if (typeof method !== 'function') return noop
    return (obj: object, msg?: string) => {
      try {
        method.call(logger, obj, msg)
      } catch {
        // nothing sensible to do: the logger itself is what failed
      }
    }
  }
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') }
}

/** Whether a logger wants debug records (pino's isLevelEnabled), so hot paths can skip building them. */
export function wantsDebug(logger: Logger | false | undefined): boolean {
  if (logger === false || logger === undefined || logger === null) return false
  const check = (logger as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled
  if (typeof check !== 'function') return typeof logger.debug === 'function'
  try {
    return check.call(logger, 'debug') === true
  } catch {
    return false
  }
}
