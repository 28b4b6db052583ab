import { Effect } from "effect"
import { recordCacheHit, recordCacheInvalidation, recordCacheMiss } from "../telemetry/metrics.js"

/** Most entries kept per template; the oldest goes first. */
const CAPACITY = 10_000

interface TemplateCache {
  /** Bumped by every invalidation: a read that began before it must not store its result after it. */
  generation: number
  readonly entries: Map<string, { readonly expiresAt: number; readonly value: unknown }>
}

/**
 * Fetch results of templates with `cache_ttl_s`, per node, in memory. A write to a template clears
 * it here at once and, through beds.logs, on every other node (brokers/cache-invalidation.ts).
 */
export class ReadCache extends Effect.Service<ReadCache>()("beds/ReadCache", {
  effect: Effect.map(Effect.clock, (clock) => {
    const caches = new Map<string, TemplateCache>()
    const cacheOf = (template: string) => {
      let cache = caches.get(template)
      if (cache === undefined) caches.set(template, cache = { generation: 0, entries: new Map() })
      return cache
    }
    const clear = (cache: TemplateCache) => {
      cache.generation++
      cache.entries.clear()
    }
    return {
      /**
       * The cached value for `key`, or the result of `load` (cached for `ttlMs` when it succeeds).
       * A hit is `Effect.succeed(value)` itself, already done (the Dispatch port's fast path): so
       * the time is read from the Clock service directly, and nothing is chained onto the hit.
       */
      through: <A, E>(template: string, key: string, ttlMs: number, load: Effect.Effect<A, E>): Effect.Effect<A, E> => {
        const now = clock.unsafeCurrentTimeMillis()
        const cache = cacheOf(template)
        const hit = cache.entries.get(key)
        if (hit !== undefined && hit.expiresAt > now) {
          recordCacheHit(template)
          return Effect.succeed(hit.value as A)
        }
        recordCacheMiss(template)
        const generation = cache.generation
        return Effect.tap(load, (value) => {
          if (cache.generation !== generation) return
          cache.entries.delete(key)
          if (cache.entries.size >= CAPACITY) cache.entries.delete(cache.entries.keys().next().value!)
          cache.entries.set(key, { expiresAt: now + ttlMs, value })
        })
      },
      invalidate: (template: string) =>
        Effect.sync(() => {
          recordCacheInvalidation(template)
          clear(cacheOf(template))
        }),
      invalidateAll: Effect.sync(() => caches.forEach(clear))
    }
  })
}) {}
