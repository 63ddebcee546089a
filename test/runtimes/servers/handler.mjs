// The one handler both runtimes serve: the web entry's createFetchHandler, as an app would use it.
// Every line on stdout is for the test (test/runtimes/runtimes.test.ts): `listening <port>` once,
// `responded <status>` when a response is handed back to the runtime, `handled <id>` per handler run.
import { createFetchHandler } from '@pocketsflow-webhooks/core/web'

/** The bodyLimit the test's chunked oversize body must exceed. */
export const BODY_LIMIT = 16 * 1024

/** `readEnv(name)`: Bun's and Deno's own ways of reading one environment variable. */
export function createServerHandler(readEnv, print) {
  const secret = readEnv('POCKETSFLOW_WEBHOOK_SECRET')
  if (!secret) throw new Error('POCKETSFLOW_WEBHOOK_SECRET is not set')
  const handle = createFetchHandler({
    secret,
    bodyLimit: BODY_LIMIT,
    logger: false,
    onEvent: (event) => {
      print(`handled ${event.id}`)
    },
  })
  return async (request) => {
    const response = await handle(request)
    print(`responded ${response.status}`)
    return response
  }
}
