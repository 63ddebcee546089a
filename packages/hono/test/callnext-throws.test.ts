// With callNext, a handler after the middleware that throws something that is not an Error (a string,
// a plain object): Hono hands only Error instances to onError, so it used to escape the middleware
// and make the authentic delivery a 500. The sender must get its 200, and the event run once.
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { describe, expect, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { pocketsflowWebhook } from '../src/index.js'

const SECRET = 'whsec_hono_adapter_test_0123456789'
const quiet = { debug() {}, info() {}, warn() {}, error() {} }

describe('callNext, downstream throws a non-Error', () => {
  function app() {
    const handled: string[] = []
    const webhook = pocketsflowWebhook({ secret: SECRET, logger: quiet, retry: false, callNext: true, onEvent: (e) => void handled.push(e.id) })
    const hono = new Hono()
    hono.post('/wh', webhook, () => {
      throw 'downstream failed' // e.g. a library that rejects with a string or a plain object
    })
    return { hono, handled }
  }

  it('app.request(): still answers the 200 acknowledgement', async () => {
    const { hono, handled } = app()
    const d = await signedRequest({ secret: SECRET, type: 'order.completed' })
    const res = await hono.request('/wh', { method: 'POST', headers: d.headers, body: d.body })
    expect([res.status, await res.text()]).toEqual([200, '{"received":true}'])
    await vi.waitFor(() => expect(handled).toHaveLength(1))
  })

  it('over HTTP (@hono/node-server): still answers the 200 acknowledgement', async () => {
    const { hono, handled } = app()
    const server = serve({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' })
    if (!server.listening) await once(server, 'listening')
    try {
      const d = await signedRequest({ secret: SECRET, type: 'order.completed' })
      const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/wh`, { method: 'POST', headers: d.headers, body: d.body })
      expect(res.status).toBe(200)
      await vi.waitFor(() => expect(handled).toHaveLength(1))
    } finally {
      server.close()
    }
  })
})
