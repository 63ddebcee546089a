// The optional peers (prom-client, @opentelemetry/api) are loaded when the hooks that need them
// are created, not when this package is imported: an app that uses one of them needs only that one.
import { createRequire } from 'node:module'

const requireHere = createRequire(import.meta.url)

export function loadPeer<T>(name: string, forWhat: string): T {
  try {
    return requireHere(name) as T
  } catch (error) {
    throw new Error(`pocketsflow-webhooks: ${forWhat} needs ${name}: npm install ${name}`, { cause: error })
  }
}
