import type { CryptoBackend } from './crypto/backend.js'
import { toUint8Array } from './realm.js'
import { schemeFor } from './schemes/index.js'
import { normaliseSecrets } from './verify.js'
import type { Body, Provider } from './types.js'

export interface SignOptions {
  provider?: Provider
  /** The secret to sign with (the first one, when given a list). */
  secret: string | readonly string[]
  /** The exact bytes that will be sent. */
  body: Body
  /** Event type: sent as `X-Pocketsflow-Event` for Pocketsflow (the others carry it in the body). */
  type?: string
  /** Delivery time, default now. A number is epoch milliseconds. */
  timestamp?: Date | number
  /** Standard Webhooks `webhook-id` (default: a random `msg_…`). */
  id?: string
  /** Pocketsflow: sign the body alone (default, what Pocketsflow does today) or `${timestamp}.${body}`. */
  signedContent?: 'body' | 'timestamp.body'
  /** Pocketsflow: send the timestamp in milliseconds (default, like Pocketsflow) or seconds. */
  timestampUnit?: 'ms' | 's'
}

/** Produces the headers a sender would put on `body`, including `Content-Type`. */
export async function signWith<Key>(backend: CryptoBackend<Key>, options: SignOptions): Promise<Record<string, string>> {
  const scheme = schemeFor(options.provider)
  const [secret] = normaliseSecrets(options.secret)
  const t = options.timestamp
  const input = {
    body: options.body,
    timestampMs: t === undefined ? Date.now() : typeof t === 'number' ? t : t.getTime(),
    type: options.type,
    id: options.id,
    signedContent: options.signedContent,
    timestampUnit: options.timestampUnit,
  }
  const prepared = scheme.prepareSignature(input)
  const key = await backend.importKey(scheme.keyFromSecret(secret as string))
  const body = typeof options.body === 'string' ? options.body : toUint8Array(options.body)
  if (body === undefined) throw new TypeError('pocketsflow-webhooks: signWebhook needs a string, Uint8Array or ArrayBuffer body')
  const mac = await backend.hmac(key, prepared.prefix, body)
  return {
    'Content-Type': 'application/json',
    ...prepared.headers,
    [prepared.signatureHeader]: scheme.formatSignature(mac, input),
  }
}
