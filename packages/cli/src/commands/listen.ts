import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { parseArgs } from 'node:util'
import { createWebhookReceiver, type RejectionReason } from '@pocketsflow-webhooks/core'
import { describeThrown } from '@pocketsflow-webhooks/core/inbox'
import { receiveNodeRequest, sendNodeResponse } from '@pocketsflow-webhooks/core/node'
import { MAX_NESTING, nestsDeeperThan } from '../depth.js'
import { diagnoseDelivery } from '../diagnose.js'
import { oneAtATime } from '../one-at-a-time.js'
import { bold, dim, EXIT, green, red, statusColour, UsageError, yellow } from '../output.js'
import { positiveNumber, provider as parseProvider, secrets } from './common.js'

export const listenHelp = `Usage: pocketsflow-webhooks listen [options]

A local receiver that verifies and pretty-prints every delivery (type, id, verification result,
payload): run it behind a tunnel while you wire up a real Pocketsflow endpoint. Rejected
deliveries are explained the way \`verify\` explains them, one at a time: a rejection that arrives
while another is being explained gets its reason line only.

Options:
  --port N              port to listen on (default 3000; 0 picks a free one)
  --path P              webhook path (default /webhooks/pocketsflow)
  --secret S            signing secret; repeat for several (default: POCKETSFLOW_WEBHOOK_SECRET)
  --provider P          pocketsflow (default), pocketbook or standard-webhooks
  --tolerance SECONDS   allowed clock difference (default 300)
  --compact             one line per delivery instead of the payload

Stops on Ctrl-C (SIGINT) or SIGTERM. Exit codes: 0 stopped cleanly, 2 usage error.`

const SIGNATURE_REASONS = new Set<RejectionReason>(['signature_mismatch', 'invalid_signature_header', 'timestamp_too_old', 'timestamp_in_future'])

export async function listenCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      path: { type: 'string' },
      secret: { type: 'string', multiple: true },
      provider: { type: 'string' },
      tolerance: { type: 'string' },
      compact: { type: 'boolean' },
    },
    strict: true,
  })
  const provider = parseProvider(values.provider)
  const secret = secrets(values.secret)
  const tolerance = positiveNumber('--tolerance', values.tolerance, 300)
  const port = positiveNumber('--port', values.port, 3000)
  const receiver = createWebhookReceiver({
    provider,
    secret,
    tolerance,
    ...(values.path ? { path: values.path } : {}),
    logger: false,
    onEvent: (event) => {
      console.log(`${time()} ${green('✓')} ${bold(event.type)} ${dim(`id ${event.id}`)} ${dim(`secret #${event.verification.secretIndex + 1}, ${event.verification.signedContent}`)}`)
      if (!values.compact) console.log(indent(printablePayload(event.payload)))
    },
  })

  const diagnose = oneAtATime(async (req: IncomingMessage, chunks: Buffer[]) => {
    const diagnosis = await diagnoseDelivery({ provider, secret, headers: req.headers, body: Buffer.concat(chunks), tolerance })
    for (const finding of diagnosis.findings.slice(1)) console.log(`    ${finding.level === 'ok' ? green('✓') : yellow('→')} ${finding.message}`)
  })

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (!receiver.matchesPath(req.url)) {
      console.log(`${time()} ${yellow('?')} ${req.method} ${req.url} ${dim(`(not ${receiver.path})`)}`)
      res.writeHead(404).end()
      return
    }
    // Keep the bytes: a rejected delivery is explained from exactly what arrived.
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    const result = await receiveNodeRequest(receiver, { req })
    sendNodeResponse(req, res, result)
    if (result.reason) {
      console.log(`${time()} ${red('✗')} ${statusColour(result.response.status)} ${result.reason} ${dim(`${req.method} ${req.url}`)}`)
      if (SIGNATURE_REASONS.has(result.reason) && !(await diagnose(req, chunks))) {
        console.log(`    ${dim('(not diagnosed: another rejection is being diagnosed)')}`)
      }
    } else if (result.response.body.includes('duplicate')) {
      console.log(`${time()} ${dim('=')} duplicate ${result.event?.type ?? ''} ${dim(`id ${result.event?.id ?? ''}`)} ${dim('(acknowledged, not processed again)')}`)
    }
  }
  // Whatever arrives, the receiver keeps serving: a request that fails is one line of output.
  const server = createServer((req, res) => void handle(req, res).catch((error: unknown) => reportFailure(req, res, error)))
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new UsageError(`cannot listen on port ${port}: ${error.message}`)))
    server.listen(port, resolve)
  })
  const address = server.address()
  const actualPort = typeof address === 'object' && address ? address.port : port
  console.log(`${bold('listening')} on http://localhost:${actualPort}${receiver.path} ${dim(`(${provider}, ${secret.length} secret${secret.length > 1 ? 's' : ''}, Ctrl-C to stop)`)}`)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  server.close()
  await receiver.close({ timeoutMs: 5000 })
  console.log(dim('stopped'))
  return EXIT.ok
}

const time = () => dim(new Date().toISOString().slice(11, 23))

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n')
}

/** The payload as indented JSON, or a note when it nests too deep for JSON.stringify to be safe. */
function printablePayload(payload: unknown): string {
  if (nestsDeeperThan(payload, MAX_NESTING)) return `(payload nests deeper than ${MAX_NESTING} levels: not printed)`
  return JSON.stringify(payload, null, 2)
}

function reportFailure(req: IncomingMessage, res: ServerResponse, error: unknown): void {
  // Reporting must not throw in turn: that would be the unhandled rejection this catches.
  try {
    console.log(`${time()} ${red('✗')} listen failed on ${req.method} ${req.url}: ${describeThrown(error)}`)
    if (!res.headersSent) res.writeHead(500).end()
  } catch {
    // Nothing left to tell anyone; the next request is served all the same.
  }
}
