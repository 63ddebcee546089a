// Node.js only: where the Node routes record what their handlers did (one JSON line per effect).
import { appendFile, mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Effect } from './handlers'

const dir = join(process.cwd(), '.data')
const file = join(dir, 'effects.jsonl')

export async function recordEffect(effect: Effect): Promise<void> {
  await mkdir(dir, { recursive: true })
  await appendFile(file, `${JSON.stringify(effect)}\n`)
}

export async function readEffects(): Promise<Effect[]> {
  const text = await readFile(file, 'utf8').catch(() => '')
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Effect)
}
