// Shared by the test files: a real PostgreSQL, a unique table per test, real HTTP servers.
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { createRequire } from 'node:module'
import pg from 'pg'
import { afterAll } from 'vitest'
import { pocketsflowWebhook, type PocketsflowWebhookMiddleware, type PocketsflowWebhookOptions } from '@pocketsflow-webhooks/express'
import type { SignedRequest } from '@pocketsflow-webhooks/core/testing'

// express is a devDependency without @types/express here: the little these tests use, typed by hand.
interface ExpressApp {
  use(handler: unknown): void
  listen(port: number, host: string, callback: () => void): Server
}
const express = createRequire(import.meta.url)('express') as () => ExpressApp

export const DATABASE_URL = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test'
export const SECRET = 'whsec_postgres_inbox_test'
export const PATH = '/webhooks/pocketsflow'
export const quiet = { debug() {}, info() {}, warn() {}, error() {} }

/** A table name no other test (or parallel test file) uses. */
export function uniqueTable(label: string): string {
  return `pfw_test_${label}_${randomBytes(4).toString('hex')}`
}

/** A small pool for the tests' own checks, separate from the inboxes' pools. */
export function adminPool(): pg.Pool {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 3 })
  pool.on('error', () => {})
  return pool
}

export async function dropTables(pool: pg.Pool, tables: string[]): Promise<void> {
  for (const table of tables) await pool.query(`DROP TABLE IF EXISTS "${table}"`)
}

export interface Running {
  url: string
  webhook: PocketsflowWebhookMiddleware
  close(timeoutMs?: number): Promise<void>
}

/** An Express app with the webhook middleware, listening on a free port. */
export async function serve(options: PocketsflowWebhookOptions): Promise<Running> {
  const webhook = pocketsflowWebhook({ logger: quiet, ...options })
  const app = express()
  app.use(webhook)
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${PATH}`
  let closed = false
  return {
    url,
    webhook,
    async close(timeoutMs = 5000) {
      if (closed) return
      closed = true
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await webhook.close({ timeoutMs })
    },
  }
}

export async function post(url: string, req: SignedRequest): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { method: 'POST', headers: req.headers, body: req.body })
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, body }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** The inbox rows, for assertions. */
export async function rows(pool: pg.Pool, table: string) {
  const result = await pool.query<{ id: string; status: string; attempts: number; last_error: string | null; completed_handlers: string[] }>(
    `SELECT id, status, attempts, last_error, completed_handlers FROM "${table}" ORDER BY created_at`,
  )
  return result.rows
}

/**
 * A test file's tables and servers on the real PostgreSQL, closed and dropped after the file.
 * Call once at the top of a test file.
 */
export function testScope() {
  const admin = adminPool()
  const tables: string[] = []
  const servers: Running[] = []
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close(1000)))
    await dropTables(admin, tables)
    await admin.end()
  })
  return {
    admin,
    servers,
    /** A fresh table name, dropped after the file. */
    table(label: string): string {
      const name = uniqueTable(label)
      tables.push(name)
      return name
    },
    /** An Express app with the webhook, closed after the file. */
    async start(options: Parameters<typeof serve>[0]): Promise<Running> {
      const running = await serve(options)
      servers.push(running)
      return running
    },
  }
}
