// When the handlers run: Next's after(), a host's waitUntil, or before the 200 ("inline"). Next's
// after() is mocked here (it only works inside Next's request scope); the real apps in
// examples/next (Next 16) and test/fixtures/next14 (no after) exercise the real thing.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'

const next = vi.hoisted(() => ({ after: undefined as undefined | ((task: () => unknown) => void) }))
vi.mock('next/server.js', () => ({
  get after() {
    return next.after
  },
}))

const SECRET = 'whsec_next_modes_test'
const quiet = { debug() {}, info() {}, warn() {}, error() {} }

type Entry = typeof import('../src/index.js')

/** Loads the Node or the Edge entry against a next/server with (Next 15.1+) or without (Next 14) after(). */
async function load(entry: 'index' | 'edge', after: typeof next.after): Promise<Entry['pocketsflowWebhook']> {
  vi.resetModules()
  next.after = after
  const module = (entry === 'index' ? await import('../src/index.js') : await import('../src/edge.js')) as Pick<Entry, 'pocketsflowWebhook'>
  return module.pocketsflowWebhook
}

/** A stand-in for Next's after(): keeps the tasks, and runs them when the test says the response is out. */
function fakeAfter() {
  const tasks: (() => unknown)[] = []
  const after = vi.fn((task: () => unknown) => void tasks.push(task))
  return { after, tasks, flush: () => Promise.all(tasks.splice(0).map((task) => task())) }
}

async function delivery() {
  const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
  return new Request('https://shop.example/webhooks/pocketsflow', req)
}

afterEach(() => {
  next.after = undefined
})

describe.each(['index', 'edge'] as const)('%s entry', (entry) => {
  describe('after (Next 15.1+)', () => {
    it('is the default, and the handlers start only once Next runs the after() task', async () => {
      const { after, tasks, flush } = fakeAfter()
      const pocketsflowWebhook = await load(entry, after)
      const steps: string[] = []
      const POST = pocketsflowWebhook({ secret: SECRET, logger: quiet, onEvent: () => void steps.push('handler') })
      expect(POST.schedule).toBe('after')
      const res = await POST(await delivery())
      steps.push(`response ${res.status}`)
      expect(after).toHaveBeenCalledOnce()
      expect(tasks).toHaveLength(1)
      await flush()
      expect(steps).toEqual(['response 200', 'handler'])
    })

    it('does not make the 200 wait for a slow handler', async () => {
      const { after, flush } = fakeAfter()
      const pocketsflowWebhook = await load(entry, after)
      let release: () => void = () => {}
      const gate = new Promise<void>((resolve) => (release = resolve))
      const POST = pocketsflowWebhook({ secret: SECRET, logger: quiet, onEvent: () => gate })
      expect((await POST(await delivery())).status).toBe(200)
      const running = flush()
      release()
      await running
    })

    it('is not used for rejected or duplicate deliveries', async () => {
      const { after } = fakeAfter()
      const pocketsflowWebhook = await load(entry, after)
      const POST = pocketsflowWebhook({ secret: SECRET, logger: quiet })
      const req = await signedRequest({ secret: SECRET, type: 'order.completed' })
      await POST(new Request('https://x.example/', req))
      expect((await POST(new Request('https://x.example/', req))).status).toBe(200)
      expect((await POST(new Request('https://x.example/', { ...req, body: `${req.body} ` }))).status).toBe(401)
      expect(after).toHaveBeenCalledOnce()
    })

    it('falls back to waitUntil when after() throws (outside a request scope)', async () => {
      const pocketsflowWebhook = await load(entry, () => {
        throw new Error('`after` was called outside a request scope')
      })
      const kept: Promise<unknown>[] = []
      const debug = vi.fn()
      const handled = vi.fn()
      const POST = pocketsflowWebhook({ secret: SECRET, logger: { ...quiet, debug }, waitUntil: (p) => void kept.push(p), onEvent: handled })
      expect(POST.schedule).toBe('after')
      expect((await POST(await delivery())).status).toBe(200)
      expect(kept).toHaveLength(1)
      await kept[0]
      expect(handled).toHaveBeenCalledOnce()
      expect(debug.mock.calls.map((call) => call[1])).toContainEqual(expect.stringMatching(/after\(\) is not available here: handing the webhook handlers to waitUntil/))
    })

    it('falls back to running the handlers before the 200 when after() throws and there is no waitUntil', async () => {
      const pocketsflowWebhook = await load(entry, () => {
        throw new Error('`after` was called outside a request scope')
      })
      const steps: string[] = []
      const POST = pocketsflowWebhook({ secret: SECRET, logger: quiet, onEvent: () => void steps.push('handler') })
      steps.push(`response ${(await POST(await delivery())).status}`)
      expect(steps).toEqual(['handler', 'response 200'])
    })
  })

  describe('without after (Next 14)', () => {
    it('runs the handlers before the 200 by default ("inline")', async () => {
      const pocketsflowWebhook = await load(entry, undefined)
      const steps: string[] = []
      const POST = pocketsflowWebhook({
        secret: SECRET,
        logger: quiet,
        onEvent: async () => {
          await new Promise((r) => setTimeout(r, 20))
          steps.push('handler finished')
        },
      })
      expect(POST.schedule).toBe('inline')
      steps.push(`response ${(await POST(await delivery())).status}`)
      expect(steps).toEqual(['handler finished', 'response 200'])
    })

    it('hands the handlers to waitUntil when one is given, starting them after the response is returned', async () => {
      const pocketsflowWebhook = await load(entry, undefined)
      const kept: Promise<unknown>[] = []
      const steps: string[] = []
      const POST = pocketsflowWebhook({ secret: SECRET, logger: quiet, waitUntil: (p) => void kept.push(p), onEvent: () => void steps.push('handler') })
      expect(POST.schedule).toBe('waitUntil')
      steps.push(`response ${(await POST(await delivery())).status}`)
      expect(kept).toHaveLength(1)
      await kept[0]
      expect(steps).toEqual(['response 200', 'handler'])
    })

    it("refuses schedule: 'after' at construction, naming the version it needs", async () => {
      const pocketsflowWebhook = await load(entry, undefined)
      expect(() => pocketsflowWebhook({ secret: SECRET, logger: quiet, schedule: 'after' })).toThrow(/Next\.js 15\.1 or later/)
    })
  })

  describe('explicit choices', () => {
    it("schedule: 'inline' runs the handlers before the 200 even where after() exists", async () => {
      const { after } = fakeAfter()
      const pocketsflowWebhook = await load(entry, after)
      const steps: string[] = []
      const POST = pocketsflowWebhook({ secret: SECRET, logger: quiet, schedule: 'inline', onEvent: () => void steps.push('handler') })
      steps.push(`response ${(await POST(await delivery())).status}`)
      expect(steps).toEqual(['handler', 'response 200'])
      expect(after).not.toHaveBeenCalled()
    })

    it("schedule: 'waitUntil' uses waitUntil even where after() exists", async () => {
      const { after } = fakeAfter()
      const pocketsflowWebhook = await load(entry, after)
      const kept: Promise<unknown>[] = []
      const POST = pocketsflowWebhook({ secret: SECRET, logger: quiet, schedule: 'waitUntil', waitUntil: (p) => void kept.push(p) })
      expect((await POST(await delivery())).status).toBe(200)
      expect(kept).toHaveLength(1)
      expect(after).not.toHaveBeenCalled()
      await kept[0]
    })

    it('a waitUntil that throws does not lose the event: the handlers run before the 200, once', async () => {
      const pocketsflowWebhook = await load(entry, undefined)
      const handled = vi.fn()
      const warn = vi.fn()
      const POST = pocketsflowWebhook({
        secret: SECRET,
        logger: { ...quiet, warn },
        waitUntil: () => {
          throw new Error('no request context')
        },
        onEvent: handled,
      })
      expect((await POST(await delivery())).status).toBe(200)
      expect(handled).toHaveBeenCalledOnce()
      await new Promise((r) => setTimeout(r, 10))
      expect(handled).toHaveBeenCalledOnce()
      expect(warn.mock.calls[0]?.[1]).toMatch(/waitUntil\(\) threw/)
    })

    it('rejects invalid combinations at construction', async () => {
      const pocketsflowWebhook = await load(entry, undefined)
      expect(() => pocketsflowWebhook({ secret: SECRET, schedule: 'waitUntil' })).toThrow(/needs the host's waitUntil/)
      expect(() => pocketsflowWebhook({ secret: SECRET, schedule: 'later' as never })).toThrow(/"schedule" must be/)
      expect(() => pocketsflowWebhook({ secret: SECRET, waitUntil: 'yes' as never })).toThrow(/"waitUntil" must be a function/)
      expect(() => pocketsflowWebhook(null as never)).toThrow(/options are required/)
    })
  })
})
