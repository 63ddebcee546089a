import { createServer } from 'node:http'
import { parseArgs } from 'node:util'
import { createWebhookReceiver, type RejectionReason } from '@pocketsflow-webhooks/core'
import { receiveNodeRequest, sendNodeResponse } from '@pocketsflow-webhooks/core/node'
import { diagnoseDelivery } from '../diagnose.js'
import { bold, dim, EXIT, green, red, statusColour, UsageError, yellow } from '../output.js'
import { positiveNumber, provider as parseProvider, secrets } from './common.js'

export const listenHelp = `Usage: pocketsflow-webhooks listen [options]

A local receiver that verifies and pretty-prints every delivery (type, id, verification result,
payload): run it behind a tunnel while you wire up a real Pocketsflow endpoint. Rejected
deliveries are explained the way \`verify\` explains them.

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
  const time = () => dim(new Date().toISOString().slice(11, 23))
  const receiver = createWebhookReceiver({
    provider,
    secret,
    tolerance,
    ...(values.path ? { path: values.path } : {}),
    logger: false,
    onEvent: (event) => {
      console.log(`${time()} ${green('✓')} ${bold(event.type)} ${dim(`id ${event.id}`)} ${dim(`secret #${event.verification.secretIndex + 1}, ${event.verification.signedContent}`)}`)
      if (!values.compact) console.log(indent(JSON.stringify(event.payload, null, 2)))
    },
  })

  const server = createServer(async (req, res) => {
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
      if (SIGNATURE_REASONS.has(result.reason)) {
        const diagnosis = await diagnoseDelivery({ provider, secret, headers: req.headers, body: Buffer.concat(chunks), tolerance })
        for (const finding of diagnosis.findings.slice(1)) console.log(`    ${finding.level === 'ok' ? green('✓') : yellow('→')} ${finding.message}`)
      }
    } else if (result.response.body.includes('duplicate')) {
      console.log(`${time()} ${dim('=')} duplicate ${result.event?.type ?? ''} ${dim(`id ${result.event?.id ?? ''}`)} ${dim('(acknowledged, not processed again)')}`)
    }
  })
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

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n')
}
