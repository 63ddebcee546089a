#!/usr/bin/env node
// The smoke of the built packages: each adapter, on a real framework over real HTTP, answers a signed
// delivery (200, its handler runs once), the same delivery again (200, the handler does not run
// again) and a forgery (401). Plain JavaScript on purpose: it runs as a user's app would, on any
// Node.js version and against whatever versions of the frameworks are installed beside it.
//
//   node test/smoke/smoke.mjs            # from the workspace (Node 20, 22, 24: pnpm test:runtimes)
//   node smoke.mjs                       # in the scratch app of pnpm check:latest
import 'reflect-metadata'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)
const SECRET = 'whsec_smoke_test_secret'
const PATH = '/webhooks/pocketsflow'
const quiet = { debug() {}, info() {}, warn() {}, error() {} }

const { signedRequest } = await import('@pocketsflow-webhooks/core/testing')

/** Listens on an ephemeral loopback port; returns the webhook's URL. */
async function listen(server) {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return `http://127.0.0.1:${server.address().port}${PATH}`
}

async function waitFor(condition, what) {
  for (let i = 0; i < 200; i++) {
    if (condition()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`timed out waiting for ${what}`)
}

/**
 * `start(options)` mounts the adapter with the receiver options given and returns
 * `{ post(delivery) → status, close() }`.
 */
async function smoke(name, start) {
  const handled = []
  const app = await start({
    secret: SECRET,
    logger: quiet,
    retry: false,
    on: { 'order.completed': (event) => void handled.push(event.data.customer.email) },
  })
  try {
    const delivery = await signedRequest({ secret: SECRET, type: 'order.completed', overrides: { customer: { email: `${name}@example.com` } } })
    const first = await app.post(delivery)
    if (first !== 200) throw new Error(`a signed delivery was answered ${first}`)
    await waitFor(() => handled.length === 1, 'the handler')
    const again = await app.post(delivery)
    if (again !== 200) throw new Error(`the same delivery again was answered ${again}`)
    const forged = await app.post({ ...delivery, body: delivery.body.replace('example.com', 'example.org') })
    if (forged !== 401) throw new Error(`a forged delivery was answered ${forged}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
    if (handled.length !== 1 || handled[0] !== `${name}@example.com`) throw new Error(`the handler ran for ${JSON.stringify(handled)}`)
  } finally {
    await app.close()
  }
}

function fetchPoster(url) {
  return async (delivery) => (await fetch(url, { method: 'POST', headers: delivery.headers, body: delivery.body })).status
}

const adapters = {
  async express(options) {
    const express = (await import('express')).default
    const { pocketsflowWebhook } = await import('@pocketsflow-webhooks/express')
    const app = express()
    const webhook = pocketsflowWebhook(options)
    app.use(webhook)
    app.use(express.json())
    const server = createServer(app)
    const url = await listen(server)
    return { post: fetchPoster(url), close: async () => (server.close(), await webhook.close()) }
  },

  async fastify(options) {
    const Fastify = (await import('fastify')).default
    const { pocketsflowWebhook } = await import('@pocketsflow-webhooks/fastify')
    const app = Fastify()
    await app.register(pocketsflowWebhook, options)
    await app.listen({ port: 0, host: '127.0.0.1' })
    const url = `http://127.0.0.1:${app.server.address().port}${PATH}`
    return { post: fetchPoster(url), close: () => app.close() }
  },

  async koa(options) {
    const Koa = (await import('koa')).default
    const { pocketsflowWebhook } = await import('@pocketsflow-webhooks/koa')
    const app = new Koa()
    const webhook = pocketsflowWebhook(options)
    app.use(webhook)
    const server = createServer(app.callback())
    const url = await listen(server)
    return { post: fetchPoster(url), close: async () => (server.close(), await webhook.close()) }
  },

  async hono(options) {
    const { Hono } = await import('hono')
    const { serve } = await import('@hono/node-server')
    const { pocketsflowWebhook } = await import('@pocketsflow-webhooks/hono')
    const app = new Hono()
    const webhook = pocketsflowWebhook(options)
    app.post(PATH, webhook)
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
    await once(server, 'listening')
    const url = `http://127.0.0.1:${server.address().port}${PATH}`
    return { post: fetchPoster(url), close: async () => (server.close(), await webhook.close()) }
  },

  async 'core (createFetchHandler)'(options) {
    const { createFetchHandler } = await import('@pocketsflow-webhooks/core')
    // Called the way a fetch server calls it: a Request in, a Response out.
    const handle = createFetchHandler(options)
    const url = `https://shop.example${PATH}`
    return {
      post: async (delivery) => (await handle(new Request(url, { method: 'POST', headers: delivery.headers, body: delivery.body }))).status,
      close: () => handle.close(),
    }
  },

  async 'next (App Router)'(options) {
    const { pocketsflowWebhook } = await import('@pocketsflow-webhooks/next')
    // Called the way Next calls a route handler: a Request in, a Response out.
    const POST = pocketsflowWebhook(options)
    const url = `https://shop.example${PATH}`
    return {
      post: async (delivery) => (await POST(new Request(url, { method: 'POST', headers: delivery.headers, body: delivery.body }))).status,
      close: () => POST.close(),
    }
  },

  async 'next (Pages Router)'(options) {
    const { pocketsflowPagesWebhook } = await import('@pocketsflow-webhooks/next')
    const handler = pocketsflowPagesWebhook(options)
    const server = createServer((req, res) => void handler(req, res))
    const url = await listen(server)
    return { post: fetchPoster(url), close: async () => (server.close(), await handler.close()) }
  },

  async 'nestjs (Express)'(options) {
    return nest(options, undefined)
  },

  async 'nestjs (Fastify)'(options) {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify')
    return nest(options, new FastifyAdapter())
  },
}

/** A Nest app as a plain-JavaScript user writes one: decorators called as functions. */
async function nest(options, platform) {
  const { Module } = await import('@nestjs/common')
  const { NestFactory } = await import('@nestjs/core')
  const { PocketsflowWebhookModule } = await import('@pocketsflow-webhooks/nestjs')
  class AppModule {}
  Module({ imports: [PocketsflowWebhookModule.forRoot(options)] })(AppModule)
  const appOptions = { rawBody: true, logger: false }
  const app = platform ? await NestFactory.create(AppModule, platform, appOptions) : await NestFactory.create(AppModule, appOptions)
  await app.listen(0, '127.0.0.1')
  const url = `http://127.0.0.1:${app.getHttpServer().address().port}${PATH}`
  return { post: fetchPoster(url), close: () => app.close() }
}

/** The CommonJS builds load too, on this Node.js, and give the same functions. */
function commonJs() {
  for (const name of ['core', 'express', 'fastify', 'hono', 'koa', 'next', 'nestjs']) {
    const exported = require(`@pocketsflow-webhooks/${name}`)
    const entry = name === 'core' ? exported.createWebhookReceiver : name === 'nestjs' ? exported.PocketsflowWebhookModule : exported.pocketsflowWebhook
    if (typeof entry !== 'function') throw new Error(`require('@pocketsflow-webhooks/${name}') has no entry point`)
  }
}

function installedVersion(name) {
  try {
    return require(`${name}/package.json`).version
  } catch {
    // Packages whose exports hide package.json (hono): up from their entry to the manifest.
    try {
      for (let dir = dirname(require.resolve(name)); dir !== dirname(dir); dir = dirname(dir)) {
        const manifest = join(dir, 'package.json')
        if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === name) return JSON.parse(readFileSync(manifest, 'utf8')).version
      }
    } catch {}
    return 'not installed'
  }
}

const only = process.argv.slice(2)
const frameworks = ['express', 'fastify', 'hono', 'koa', 'next', '@nestjs/core', '@nestjs/platform-fastify']
console.log(`Node.js ${process.version}; ${frameworks.map((name) => `${name} ${installedVersion(name)}`).join(', ')}`)
let failed = 0
const checks = { 'CommonJS builds': async () => commonJs(), ...Object.fromEntries(Object.entries(adapters).map(([name, start]) => [name, () => smoke(name.split(' ')[0], start)])) }
for (const [name, check] of Object.entries(checks)) {
  if (only.length > 0 && !only.some((wanted) => name.startsWith(wanted))) continue
  const started = Date.now()
  try {
    await check()
    console.log(`ok   ${name} (${Date.now() - started} ms)`)
  } catch (error) {
    failed++
    console.log(`FAIL ${name}: ${error?.stack ?? error}`)
  }
}
console.log(failed === 0 ? 'smoke passed' : `smoke failed: ${failed} check(s)`)
process.exit(failed === 0 ? 0 : 1)
