import type { Logger } from './types.js'

const noop = () => {}
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop }

/**
 * Without a logger, rejections and failures still reach the console: a silently rejected
 * Pocketsflow event is never re-sent, so whoever runs the receiver has to be able to see it.
 */
export const consoleLogger: Logger = {
  debug: noop,
  info: noop,
  warn: (obj, msg) => console.warn(`[pocketsflow-webhooks] ${msg ?? ''}`, obj),
  error: (obj, msg) => console.error(`[pocketsflow-webhooks] ${msg ?? ''}`, obj),
}

export function resolveLogger(logger: Logger | false | undefined): Logger {
  if (logger === false) return silentLogger
  return logger ?? consoleLogger
}
