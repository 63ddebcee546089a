// POCKETSFLOW_WEBHOOK_SECRET=whsec_… PORT=3000 node server.mjs
import { createApp } from './app.mjs'

const { app, webhook } = createApp({ secret: process.env.POCKETSFLOW_WEBHOOK_SECRET })
const port = Number(process.env.PORT ?? 3000)
const server = app.listen(port, () => console.log(`listening on http://localhost:${server.address().port}${webhook.receiver.path}`))

// On SIGTERM/SIGINT: stop taking deliveries (503), let running handlers finish, then exit.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, async () => {
    server.close()
    await webhook.close({ timeoutMs: 10_000 })
    console.log('drained, bye')
    process.exit(0)
  })
}
