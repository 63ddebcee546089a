// Finds @OnPocketsflowEvent methods and turns them into the core's `on` / `onEvent`.
import type { DiscoveryService } from '@nestjs/core'
import { canonicalPocketsflowType, type EventHandler, type OneOrMany, type Provider } from '@pocketsflow-webhooks/core'
import { handlerRegistrations } from './on-event.js'

type Wrapper = ReturnType<DiscoveryService['getProviders']>[number]

interface Found {
  readonly label: string
  readonly handler: EventHandler
}

export interface DiscoveredHandlers {
  /** Per canonical event type, in discovery order. */
  readonly byType: ReadonlyMap<string, readonly Found[]>
  readonly catchAll: readonly Found[]
  readonly count: number
}

function methodNames(prototype: object): string[] {
  const names = new Set<string>()
  for (let p: object | null = prototype; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      if (name === 'constructor') continue
      // Descriptors, not property reads: a getter must not run just because we look.
      const descriptor = Object.getOwnPropertyDescriptor(p, name)
      if (descriptor && typeof descriptor.value === 'function') names.add(name)
    }
  }
  return [...names]
}

/**
 * Every @OnPocketsflowEvent method of every provider and controller. A method is registered once
 * per canonical type whatever its decorators say (`customer.subscription.pause` and `…paused` are
 * one event), and an instance reachable through several wrappers (aliases) is scanned once.
 */
export function discoverHandlers(discovery: DiscoveryService, provider: Provider): DiscoveredHandlers {
  const canonical = (type: string) => (provider === 'pocketsflow' ? canonicalPocketsflowType(type) : type)
  const byType = new Map<string, Found[]>()
  const catchAll: Found[] = []
  const seen = new Set<object>()
  let count = 0
  const wrappers: Wrapper[] = [...discovery.getProviders(), ...discovery.getControllers()]
  for (const wrapper of wrappers) {
    const instance = wrapper.instance as Record<string, unknown> | null | undefined
    if (instance === null || typeof instance !== 'object' || seen.has(instance)) continue
    let prototype: object | null
    try {
      prototype = Object.getPrototypeOf(instance) as object | null
    } catch {
      continue // a proxy that refuses to be inspected is not one of ours
    }
    if (prototype === null) continue
    const className = (wrapper.metatype as { name?: string } | undefined)?.name ?? instance.constructor?.name ?? 'provider'
    for (const name of methodNames(prototype)) {
      const registrations = handlerRegistrations((prototype as Record<string, unknown>)[name])
      if (registrations.length === 0) continue
      const label = `${className}.${name}`
      // Handlers run outside any request: a request-scoped or transient provider has no instance to call.
      if (!wrapper.isDependencyTreeStatic() || wrapper.isTransient) {
        throw new Error(
          `pocketsflow-webhooks: @OnPocketsflowEvent on ${label}: ${className} is request-scoped or transient (or depends on a request-scoped provider). Handlers run after the response, outside any request; put them on a singleton provider.`,
        )
      }
      seen.add(instance)
      const handler: EventHandler = (event, ctx) => (instance[name] as EventHandler).call(instance, event, ctx)
      const types = new Set<string>()
      let everyEvent = false
      for (const registration of registrations) {
        if (registration.types === undefined) everyEvent = true
        else for (const type of registration.types) types.add(canonical(type))
      }
      if (everyEvent && types.size > 0) {
        throw new Error(
          `pocketsflow-webhooks: ${label} is registered for ${[...types].join(', ')} and as the catch-all (@OnPocketsflowEvent()); it would run twice for those events. Keep one.`,
        )
      }
      count++
      if (everyEvent) catchAll.push({ label, handler })
      for (const type of types) {
        const list = byType.get(type) ?? []
        list.push({ label, handler })
        byType.set(type, list)
      }
    }
  }
  return { byType, catchAll, count }
}

/**
 * The core's `on` and `onEvent`: the module options' own handlers first, then the discovered
 * methods, each a handler of its own (the core runs them in order, retries and records each on its
 * own, in memory and in an inbox). An options key keeps its spelling, so the core still rejects
 * both spellings of one event.
 */
export function mergeHandlers(
  provider: Provider,
  on: Readonly<Record<string, OneOrMany<EventHandler> | undefined>> | undefined,
  onEvent: OneOrMany<EventHandler> | undefined,
  found: DiscoveredHandlers,
): { on: Record<string, EventHandler[]> | undefined; onEvent: EventHandler[] | undefined } {
  const canonical = (type: string) => (provider === 'pocketsflow' ? canonicalPocketsflowType(type) : type)
  const list = (value: OneOrMany<EventHandler> | undefined): EventHandler[] => (value === undefined ? [] : Array.isArray(value) ? [...value] : [value as EventHandler])
  const merged: Record<string, EventHandler[]> = {}
  for (const [key, handlers] of Object.entries(on ?? {})) if (handlers !== undefined) merged[key] = list(handlers)
  for (const [type, methods] of found.byType) {
    const key = Object.keys(merged).find((k) => canonical(k) === type) ?? type
    merged[key] = [...(merged[key] ?? []), ...methods.map((m) => m.handler)]
  }
  const catchAll = [...list(onEvent), ...found.catchAll.map((m) => m.handler)]
  return {
    on: on === undefined && found.byType.size === 0 ? undefined : merged,
    onEvent: catchAll.length === 0 ? undefined : catchAll,
  }
}
