#!/usr/bin/env node
import { inboxCommand, inboxHelp } from './commands/inbox.js'
import { listenCommand, listenHelp } from './commands/listen.js'
import { sendCommand, sendHelp } from './commands/send.js'
import { verifyCommand, verifyHelp } from './commands/verify.js'
import { EXIT, red, UsageError } from './output.js'

const help = `Usage: pocketsflow-webhooks <command> [options]

Commands:
  send <event-type>   sign a realistic sample event and POST it to your receiver
  verify              explain why a captured delivery verifies or not
  listen              a local receiver that verifies and prints every delivery
  inbox list|replay   dead letters of a durable inbox (Redis or PostgreSQL): list, queue again

Run \`pocketsflow-webhooks <command> --help\` for a command's options.
The secret comes from --secret or POCKETSFLOW_WEBHOOK_SECRET, and is never printed.`

const commands: Record<string, [(args: string[]) => Promise<number>, string]> = {
  send: [sendCommand, sendHelp],
  verify: [verifyCommand, verifyHelp],
  listen: [listenCommand, listenHelp],
  inbox: [inboxCommand, inboxHelp],
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help)
    return name === undefined ? EXIT.usage : EXIT.ok
  }
  const command = commands[name]
  if (!command) {
    console.error(`${red('unknown command')} ${JSON.stringify(name)}\n\n${help}`)
    return EXIT.usage
  }
  const [run, usage] = command
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(usage)
    return EXIT.ok
  }
  try {
    return await run(rest)
  } catch (error) {
    // parseArgs reports unknown or malformed flags with ERR_PARSE_ARGS_* codes
    const code = (error as { code?: string }).code
    if (error instanceof UsageError || code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`${red('error:')} ${(error as Error).message}\n\n${usage}`)
      return EXIT.usage
    }
    throw error
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    console.error(error)
    process.exitCode = 1
  },
)
