import { readFileSync } from 'node:fs'
import { PROVIDERS, type Provider } from '@pocketsflow-webhooks/core'
import { UsageError } from '../output.js'

export function provider(value: string | undefined): Provider {
  const p = value ?? 'pocketsflow'
  if (!PROVIDERS.includes(p as Provider)) throw new UsageError(`--provider must be one of ${PROVIDERS.join(', ')}, got ${JSON.stringify(p)}`)
  return p as Provider
}

/** --secret, else POCKETSFLOW_WEBHOOK_SECRET. Several --secret flags mean a rotation. */
export function secrets(values: string[] | undefined): string[] {
  const list = values && values.length > 0 ? values : process.env['POCKETSFLOW_WEBHOOK_SECRET'] ? [process.env['POCKETSFLOW_WEBHOOK_SECRET']] : []
  if (list.length === 0) throw new UsageError('no secret: pass --secret or set POCKETSFLOW_WEBHOOK_SECRET')
  if (list.some((s) => s.trim() === '')) throw new UsageError('a secret is empty or only whitespace')
  return list
}

export function readBytes(file: string): Uint8Array {
  try {
    return file === '-' ? readFileSync(0) : readFileSync(file)
  } catch (error) {
    throw new UsageError(`cannot read ${file === '-' ? 'standard input' : file}: ${(error as Error).message}`)
  }
}

export function positiveNumber(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${name} must be a number >= 0, got ${JSON.stringify(value)}`)
  return n
}
