import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { canonicalPocketsflowType, WebhookValidationError, type StandardSchemaV1, type WebhookEvent } from '@pocketsflow-webhooks/core'
import { describeThrown, isStandardSchema, validateEvent } from '@pocketsflow-webhooks/core/inbox'
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
  --schema FILE         once verified, check the payload against a Standard Schema (zod, valibot,
                        …) exported by this JavaScript module: its default export, or an object of
                        schemas by event type (default export or \`schemas\`), as the \`schemas\` option

Exit codes: 0 verified (and the payload matches its schema), 1 not verified or not matching, 2 usage error.`

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
      schema: { type: 'string' },
    },
    strict: true,
  })
  // Loaded first: a module that can't be used is a usage error, whatever the delivery.
  const schemas = values.schema ? await loadSchemas(values.schema) : undefined
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
  if (!diagnosis.verified || !diagnosis.event) return EXIT.failed
  if (diagnosis.event.testMode) console.log(`  ${yellow('→')} a test-mode event (testMode: 'ignore' would acknowledge it and run nothing)`)
  return schemas ? checkSchema(schemas, diagnosis.event) : EXIT.ok
}

type Schemas = StandardSchemaV1 | Readonly<Record<string, unknown>>

/** The `--schema` module's schema, or its schemas by event type. */
async function loadSchemas(file: string): Promise<Schemas> {
  let loaded: Record<string, unknown>
  try {
    loaded = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>
  } catch (error) {
    throw new UsageError(`--schema ${file}: cannot load it: ${(error as Error).message}`)
  }
  for (const candidate of [loaded['default'], loaded['schemas'], loaded]) {
    if (isStandardSchema(candidate)) return candidate
    if (candidate && typeof candidate === 'object' && Object.values(candidate).some(isStandardSchema)) return candidate as Record<string, unknown>
  }
  throw new UsageError(`--schema ${file}: exports no Standard Schema (a default export, or an object of schemas by event type)`)
}

/** Checks the event's data as the receiver would before the type's handlers: the same issues, the same paths. */
async function checkSchema(schemas: Schemas, event: WebhookEvent): Promise<number> {
  const byType = schemas as Record<string, unknown>
  // Keyed as the receiver's `schemas` option is: either spelling of an aliased Pocketsflow type.
  const canonical = (key: string) => (event.provider === 'pocketsflow' ? canonicalPocketsflowType(key) : key)
  const key = Object.keys(byType).find((k) => canonical(k) === event.type && isStandardSchema(byType[k]))
  const schema = isStandardSchema(schemas) ? schemas : key === undefined ? undefined : (byType[key] as StandardSchemaV1)
  if (!schema) {
    console.log(`  ${yellow('→')} no schema for ${event.type} in --schema: its payload is not checked`)
    return EXIT.ok
  }
  try {
    await validateEvent(schema, event, event.type, 1)
  } catch (error) {
    if (!(error instanceof WebhookValidationError)) {
      // The receiver would count this as a failed attempt and retry it: no verdict on the payload.
      console.log(red(bold(`✗ the schema for ${event.type} gave no verdict: ${describeThrown(error)}`)))
      return EXIT.failed
    }
    console.log(red(bold(`✗ the payload does not match the schema for ${event.type}`)))
    for (const issue of error.issues) console.log(`  ${red('✗')} ${issue.path.length > 0 ? `${issue.path.join('.')}: ` : ''}${issue.message}`)
    return EXIT.failed
  }
  console.log(green(bold(`✓ the payload matches the schema for ${event.type}`)))
  return EXIT.ok
}

function mark(finding: Finding): string {
  return finding.level === 'ok' ? green('✓') : finding.level === 'problem' ? red('✗') : yellow('→')
}
