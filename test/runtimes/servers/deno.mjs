// Deno: `deno run --node-modules-dir=manual --no-config --no-lock --no-prompt
// --allow-env=POCKETSFLOW_WEBHOOK_SECRET --allow-net=127.0.0.1 servers/deno.mjs` (cwd test/runtimes):
// npm packages come from test/runtimes/node_modules as pnpm linked them, nothing is fetched.
import { createServerHandler } from './handler.mjs'

const handler = createServerHandler((name) => Deno.env.get(name), (line) => console.log(line))
Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: ({ port }) => console.log(`listening ${port}`) }, handler)
