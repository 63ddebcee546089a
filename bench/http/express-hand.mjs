// The hand-written route the adapter is measured against: express.raw() plus a careful check.
import { createHmac, timingSafeEqual } from 'node:crypto'
import express from 'express'
import { handle, PATH, SECRET } from './load.mjs'

const app = express()
app.post(PATH, express.raw({ type: '*/*', limit: '1mb' }), (req, res) => {
  const signature = req.headers['x-pocketsflow-signature']
  const timestamp = Number(req.headers['x-pocketsflow-timestamp'])
  if (typeof signature !== 'string' || !(Math.abs(Date.now() - timestamp) <= 300_000)) return res.status(401).json({ error: 'invalid signature' })
  const expected = createHmac('sha256', SECRET).update(req.body).digest()
  const given = Buffer.from(signature, 'hex')
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return res.status(401).json({ error: 'invalid signature' })
  let event
  try {
    event = JSON.parse(req.body.toString('utf8'))
  } catch {
    return res.status(400).json({ error: 'invalid payload' })
  }
  res.once('close', () => handle(event))
  res.status(200).json({ received: true })
})
app.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'))
