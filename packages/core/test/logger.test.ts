import { afterEach, describe, expect, it, vi } from 'vitest'
import { consoleLogger } from '../src/inbox-toolkit.js'

afterEach(() => vi.restoreAllMocks())

describe('consoleLogger (the default)', () => {
  it('writes warnings as one line with the fields as JSON', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    consoleLogger.warn({ reason: 'timestamp_too_old', skewSeconds: 3600 }, 'webhook delivery rejected: timestamp_too_old')
    expect(warn).toHaveBeenCalledWith(
      '[pocketsflow-webhooks] webhook delivery rejected: timestamp_too_old {"reason":"timestamp_too_old","skewSeconds":3600}',
    )
  })

  it('passes errors through so the console prints their stack', () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    const err = new Error('boom')
    consoleLogger.error({ eventId: 'e1', err }, 'webhook handling failed for good')
    expect(error).toHaveBeenCalledWith('[pocketsflow-webhooks] webhook handling failed for good {"eventId":"e1"}', err)
  })

  it('survives fields it cannot serialize, and stays quiet below warn', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    const log = vi.spyOn(console, 'log').mockImplementation(() => {})
    const circular: Record<string, unknown> = {}
    circular['self'] = circular
    consoleLogger.warn({ circular }, 'x')
    expect(warn).toHaveBeenCalledWith('[pocketsflow-webhooks] x [fields not serializable]')
    consoleLogger.info({}, 'y')
    consoleLogger.debug({}, 'z')
    expect(log).not.toHaveBeenCalled()
  })
})
