import { parseArgs } from 'node:util'
import { POCKETBOOK_EVENT_TYPES, POCKETSFLOW_EVENT_ALIASES, POCKETSFLOW_EVENT_TYPES } from '@pocketsflow-webhooks/core'
import { signedRequest } from '@pocketsflow-webhooks/core/testing'
import { dim, EXIT, statusColour, UsageError, yellow } from '../output.js'
import { provider as parseProvider, readBytes, secrets } from './common.js'

export const sendHelp = `Usage: pocketsflow-webhooks send <event-type> [options]

Signs a realistic sample of <event-type> and POSTs it, then prints the status and the timing.

Options:
  --url URL             where to send (default http://localhost:3000/webhooks/pocketsflow)
  --secret S            signing secret (default: POCKETSFLOW_WEBHOOK_SECRET)
  --provider P          pocketsflow (default), pocketbook or standard-webhooks
  --body FILE           send this file's exact bytes instead of a sample ("-" for standard input)
  --shape S             Pocketsflow sample shape: reference (default) or vendor
  --timestamp-unit U    Pocketsflow timestamp header in ms (default) or s
  --duplicate           send the same signed delivery twice
  --stale               date the delivery 10 minutes in the past (outside the default tolerance)
  --tamper              change one byte of the body after signing
  --list                print every known event type and exit

Exit codes: 0 every response was 2xx, 1 some response was not, 2 usage error, 3 could not connect.`

export async function sendCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      secret: { type: 'string', multiple: true },
      provider: { type: 'string' },
      body: { type: 'string' },
      shape: { type: 'string' },
      'timestamp-unit': { type: 'string' },
      duplicate: { type: 'boolean' },
      stale: { type: 'boolean' },
      tamper: { type: 'boolean' },
      list: { type: 'boolean' },
    },
    strict: true,
  })
  const provider = parseProvider(values.provider)
  if (values.list) {
    const types = provider === 'pocketbook' ? POCKETBOOK_EVENT_TYPES : provider === 'pocketsflow' ? [...POCKETSFLOW_EVENT_TYPES, ...Object.keys(POCKETSFLOW_EVENT_ALIASES)] : []
    console.log(types.length > 0 ? types.join('\n') : 'standard-webhooks has no fixed event types: send any name')
    return EXIT.ok
  }
  const [type] = positionals
  if (!type || positionals.length > 1) throw new UsageError('send takes exactly one event type, e.g. `send order.completed` (see --list)')
  if (values.shape !== undefined && values.shape !== 'reference' && values.shape !== 'vendor') throw new UsageError('--shape must be reference or vendor')
  const unit = values['timestamp-unit']
  if (unit !== undefined && unit !== 'ms' && unit !== 's') throw new UsageError('--timestamp-unit must be ms or s')
  if (provider === 'pocketsflow' && !(POCKETSFLOW_EVENT_TYPES as readonly string[]).includes(type) && !(type in POCKETSFLOW_EVENT_ALIASES)) {
    console.error(yellow(`note: ${type} is not a known Pocketsflow event type; sending it anyway (receivers must accept unknown types)`))
  }
  const url = values.url ?? 'http://localhost:3000/webhooks/pocketsflow'
  const [secret] = secrets(values.secret)
  const request = await signedRequest({
    provider,
    secret: secret as string,
    type,
    ...(values.body ? { body: new TextDecoder().decode(readBytes(values.body)) } : {}),
    ...(values.shape ? { shape: values.shape as 'reference' | 'vendor' } : {}),
    ...(unit ? { timestampUnit: unit as 'ms' | 's' } : {}),
    ...(values.stale ? { timestamp: Date.now() - 10 * 60_000 } : {}),
  })
  let body = request.body
  if (values.tamper) body = tamper(body)

  const labels = [type, values.stale ? 'stale' : '', values.tamper ? 'tampered' : ''].filter(Boolean).join(', ')
  let allOk = true
  for (let i = 0; i < (values.duplicate ? 2 : 1); i++) {
    const started = performance.now()
    let res: Response
    try {
      res = await fetch(url, { method: 'POST', headers: request.headers, body })
    } catch (error) {
      console.error(`could not reach ${url}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`)
      return EXIT.unreachable
    }
    const text = await res.text()
    const ms = (performance.now() - started).toFixed(1)
    console.log(`${statusColour(res.status)} ${labels}${i === 1 ? ' (duplicate)' : ''} ${dim(`${ms} ms`)} ${dim(text.slice(0, 200))}`)
    allOk &&= res.ok
  }
  return allOk ? EXIT.ok : EXIT.failed
}

/** Changes one character in the middle of the body: still plausible JSON, no longer what was signed. */
function tamper(body: string): string {
  const at = body.search(/[0-9]/) >= 0 ? body.search(/[0-9]/) : Math.floor(body.length / 2)
  const c = body[at] as string
  const replacement = c === '9' ? '8' : /[0-9]/.test(c) ? String(Number(c) + 1) : c === 'x' ? 'y' : 'x'
  return body.slice(0, at) + replacement + body.slice(at + 1)
}
