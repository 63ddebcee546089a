// The event handlers, shared by the three routes. No Node.js built-in here: the Edge route uses them too.
import type { PocketsflowWebhookOptions } from '@pocketsflow-webhooks/next'

/** What a handler did, for the example's /api/effects page (and its tests) to show. */
export interface Effect {
  route: string
  type: string
  id: string
  email?: string
  at: number
}

type Recorder = (effect: Effect) => Promise<void>

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export function handlers(route: string, record: Recorder): Pick<PocketsflowWebhookOptions, 'on' | 'onEvent'> {
  return {
    on: {
      'order.completed': async (event) => {
        // Stands for slow work (sending an email, provisioning): the 200 does not wait for it,
        // except where handlers run inline (Pages Router, Next.js 14).
        const slowMs = Number((event.data.metadata as { slowMs?: unknown } | undefined)?.slowMs ?? 0)
        if (slowMs > 0) await sleep(Math.min(slowMs, 4000))
        await record({ route, type: event.type, id: event.id, email: event.data.customer?.email, at: Date.now() })
      },
    },
    onEvent: async (event) => {
      if (event.type !== 'order.completed') await record({ route, type: event.type, id: event.id, at: Date.now() })
    },
  }
}
