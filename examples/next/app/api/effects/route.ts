// Demo only (no authentication): shows what the webhook handlers did. GET lists the effects; the
// Edge route, which has no file system, POSTs its own here.
import { readEffects, recordEffect } from '../../../lib/effects'
import type { Effect } from '../../../lib/handlers'

export const dynamic = 'force-dynamic'

export async function GET(): Promise<Response> {
  return Response.json(await readEffects())
}

export async function POST(request: Request): Promise<Response> {
  await recordEffect((await request.json()) as Effect)
  return new Response(null, { status: 204 })
}
