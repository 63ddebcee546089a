// Bun: `bun servers/bun.mjs` (cwd test/runtimes), POCKETSFLOW_WEBHOOK_SECRET in the environment.
import { createServerHandler } from './handler.mjs'

const fetch = createServerHandler((name) => Bun.env[name], (line) => console.log(line))
const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch })
console.log(`listening ${server.port}`)
