import { parseArgs } from 'node:util'
import { parseHeaderLines, splitRawRequest } from '../capture.js'
import { diagnoseDelivery, type Finding } from '../diagnose.js'
import { bold, dim, EXIT, green, red, UsageError, yellow } from '../output.js'
import { positiveNumber, provider, readBytes, secrets } from './common.js'

export const verifyHelp = `Usage: pocketsflow-webhooks verify [options]

Explains exactly why a captured delivery verifies or not: wrong secret, a secret with whitespace
or without its whsec_ prefix, a body that was re-serialized (pretty-printed or re-ordered JSON),
another sender's scheme, a timestamp out of tolerance (and by how much). Never prints the secret.

Input (the body is read as raw bytes, never re-encoded):
  --body FILE           the request body ("-" for standard input)
  --header "Name: value"  a request header; repeat for each
  --headers FILE        header lines as copied from a delivery log ("Name: value" per line)
  --request FILE        a whole raw HTTP request: header lines, a blank line, the body

Options:
  --secret S            signing secret; repeat for several (default: POCKETSFLOW_WEBHOOK_SECRET)
  --provider P          pocketsflow (default), pocketbook or standard-webhooks
  --tolerance SECONDS   allowed clock difference (default 300; 0 means exact)
  --no-tolerance        ignore the timestamp's age (to check a delivery captured long ago)

Exit codes: 0 verified, 1 not verified, 2 usage error.`

export async function verifyCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      body: { type: 'string' },
      header: { type: 'string', multiple: true },
      headers: { type: 'string' },
      request: { type: 'string' },
      secret: { type: 'string', multiple: true },
      provider: { type: 'string' },
      tolerance: { type: 'string' },
      'no-tolerance': { type: 'boolean' },
    },
    strict: true,
  })
  let body: Uint8Array | undefined
  const headerLines: string[] = [...(values.header ?? [])]
  if (values.request) {
    const raw = splitRawRequest(readBytes(values.request))
    headerLines.unshift(...raw.head.split('\n'))
    body = raw.body
  }
  if (values.headers) headerLines.unshift(...new TextDecoder().decode(readBytes(values.headers)).split('\n'))
  if (values.body) body = readBytes(values.body)
  if (!body) throw new UsageError('no body: pass --body FILE, --body - (standard input) or --request FILE')
  if (headerLines.length === 0) throw new UsageError('no headers: pass --header "Name: value", --headers FILE or --request FILE')
  let headers: Record<string, string | string[]>
  try {
    headers = parseHeaderLines(headerLines)
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const diagnosis = await diagnoseDelivery({
    provider: provider(values.provider),
    secret: secrets(values.secret),
    headers,
    body,
    tolerance: values['no-tolerance'] ? false : positiveNumber('--tolerance', values.tolerance, 300),
  })
  console.log(diagnosis.verified ? green(bold('✓ verified')) : red(bold(`✗ not verified: ${diagnosis.reason}`)))
  for (const finding of diagnosis.findings) console.log(`  ${mark(finding)} ${finding.message}`)
  if (!diagnosis.verified) console.log(dim(`  (${diagnosis.provider} scheme, ${body.length} body bytes)`))
  return diagnosis.verified ? EXIT.ok : EXIT.failed
}

function mark(finding: Finding): string {
  return finding.level === 'ok' ? green('✓') : finding.level === 'problem' ? red('✗') : yellow('→')
}
