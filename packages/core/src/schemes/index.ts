import type { Provider } from '../types.js'
import { pocketbookScheme } from './pocketbook.js'
import { pocketsflowScheme } from './pocketsflow.js'
import type { Scheme } from './scheme.js'
import { standardWebhooksScheme } from './standard-webhooks.js'

export const PROVIDERS: readonly Provider[] = ['pocketsflow', 'pocketbook', 'standard-webhooks']

/** The header that carries a sender's signature, lower-case. Throws for an unknown provider. */
export function signatureHeaderOf(provider: Provider): string {
  return schemeFor(provider).signatureHeader
}

export function schemeFor(provider: unknown = 'pocketsflow'): Scheme {
  switch (provider) {
    case 'pocketsflow':
      return pocketsflowScheme
    case 'pocketbook':
      return pocketbookScheme
    case 'standard-webhooks':
      return standardWebhooksScheme
    default:
      throw new TypeError(
        `pocketsflow-webhooks: unknown provider ${JSON.stringify(provider)}; expected one of ${PROVIDERS.join(', ')}`,
      )
  }
}
