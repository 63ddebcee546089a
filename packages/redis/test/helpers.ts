// Shared by this package's tests: each test gets its own queue and key prefix on the real Redis,
// so the files run in parallel, and removes its keys afterwards.
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { Redis } from 'ioredis'
import { afterEach } from 'vitest'
import type { WebhookInbox } from '@pocketsflow-webhooks/core'
import { bullmqInbox, type BullmqInboxOptions } from '../src/index.js'
import { pocketsflowWebhook, type PocketsflowWebhookOptions } from '@pocketsflow-webhooks/express'

// Express 5 itself (the adapter's peer), loaded without its type package, which this package
// does not depend on: only use() and listen() are needed.
interface ExpressApp {
  use(middleware: (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void): void
  listen(port: number, host: string, callback: () => void): Server
}
const express = createRequire(import.meta.url)('express') as () => ExpressApp

export const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379'
export const SECRET = 'whsec_redis_inbox_test_secret'
export const quiet = { debug() {}, info() {}, warn() {}, error() {} }

let counter = 0
/** A queue name that is also the key prefix: every key of the test starts with it. */
export function uniqueName(label: string): string {
  return `pfw_test_${label}_${process.pid}_${Date.now().toString(36)}_${counter++}`
}

export async function removeKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await redis.del(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}

export interface TestApp {
  readonly url: string
  readonly webhook: ReturnType<typeof pocketsflowWebhook>
  stop(timeoutMs?: number): Promise<void>
}

/** An Express app with the adapter, listening on a free port. */
export async function startApp(options: PocketsflowWebhookOptions): Promise<TestApp> {
  const webhook = pocketsflowWebhook({ logger: quiet, ...options })
  const app = express()
  app.use(webhook)
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const port = (server.address() as AddressInfo).port
  let stopped: Promise<void> | undefined
  return {
    url: `http://127.0.0.1:${port}/webhooks/pocketsflow`,
    webhook,
    stop(timeoutMs = 5000) {
      stopped ??= (async () => {
        server.closeAllConnections()
        await new Promise((resolve) => server.close(resolve))
        await webhook.close({ timeoutMs })
      })()
      return stopped
    },
  }
}

export async function post(url: string, req: { headers: Record<string, string>; body: string }): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { method: 'POST', headers: req.headers, body: req.body })
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * A test file's resources, undone after each test in reverse order (apps and inboxes before the
 * keys they used). Call once at the top of a test file.
 */
export function testScope() {
  const cleanups: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
  })
  return {
    cleanups,
    /** A bullmqInbox on the test's queue, with short locks so crash recovery is quick. */
    inboxFor(name: string, extra: Partial<BullmqInboxOptions> = {}): WebhookInbox {
      const inbox = bullmqInbox({ connection: { url: REDIS_URL }, queueName: name, prefix: name, logger: quiet, lockDurationMs: 5000, stalledIntervalMs: 1000, ...extra })
      cleanups.push(() => inbox.close({ timeoutMs: 1000 }))
      return inbox
    },
    /** A fresh queue name whose keys are removed after the test. */
    queue(label: string): string {
      const name = uniqueName(label)
      cleanups.push(() => removeKeys(name))
      return name
    },
    async app(options: Parameters<typeof startApp>[0]): Promise<TestApp> {
      const started = await startApp(options)
      cleanups.push(() => started.stop(1000))
      return started
    },
  }
}
