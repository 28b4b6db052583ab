import { type Clock, Context, Effect, Layer, Runtime, Schedule } from "effect"
import { awaitChannelClose, channelCall, openChannel } from "../transport/channel.js"
import { AmqpConnection } from "../transport/connection.js"
import { LOGS_EXCHANGE } from "../transport/topology.js"

/** Routing key on beds.logs that tells every node to drop a template's cached reads. */
export const invalidationKey = (template: string) => `cache.invalidate.${template}`

/** Most entries kept per template; the oldest goes first. */
const CAPACITY = 10_000

interface TemplateCache {
  /** Bumped by every invalidation: a read that began before it must not store its result after it. */
  generation: number
  readonly entries: Map<string, { readonly expiresAt: number; readonly value: unknown }>
}

/**
 * Fetch results of templates with `cache_ttl_s`, per node, in memory. A write to a template clears
 * it here at once and, through beds.logs, on every other node (ReadCacheInvalidationLive).
 */
export class ReadCache extends Context.Tag("beds/ReadCache")<ReadCache, {
  /** The cached value for `key`, or the result of `load` (cached for `ttlMs` when it succeeds). */
  readonly through: <E>(template: string, key: string, ttlMs: number, load: Effect.Effect<unknown, E>) => Effect.Effect<unknown, E>
  readonly invalidate: (template: string) => Effect.Effect<void>
  readonly invalidateAll: Effect.Effect<void>
}>() {}

/**
 * The time is read from the Clock service directly (not `Clock.currentTimeMillis`, an Effect): a
 * hit is then `Effect.succeed(value)`, already done, and the handler settles it without a fiber.
 */
export const makeReadCache = (clock: Clock.Clock) => {
  const caches = new Map<string, TemplateCache>()
  const cacheOf = (template: string) => {
    let cache = caches.get(template)
    if (cache === undefined) caches.set(template, cache = { generation: 0, entries: new Map() })
    return cache
  }
  return ReadCache.of({
    // Plain combinators, not a generator: a cached read does little else (BENCHMARKS.md).
    through: (template, key, ttlMs, load) => {
      const now = clock.unsafeCurrentTimeMillis()
      const cache = cacheOf(template)
      const hit = cache.entries.get(key)
      if (hit !== undefined && hit.expiresAt > now) return Effect.succeed(hit.value)
      const generation = cache.generation
      return Effect.tap(load, (value) => {
        if (cache.generation !== generation) return
        cache.entries.delete(key)
        if (cache.entries.size >= CAPACITY) cache.entries.delete(cache.entries.keys().next().value!)
        cache.entries.set(key, { expiresAt: now + ttlMs, value })
      })
    },
    invalidate: (template) =>
      Effect.sync(() => {
        const cache = cacheOf(template)
        cache.generation++
        cache.entries.clear()
      }),
    invalidateAll: Effect.sync(() => {
      for (const cache of caches.values()) {
        cache.generation++
        cache.entries.clear()
      }
    })
  })
}

export const ReadCacheLive = Layer.effect(ReadCache, Effect.map(Effect.clock, makeReadCache))

/**
 * Listens on beds.logs for `cache.invalidate.{template}` (from any node, this one included) through
 * an exclusive queue of this node's own, and clears that template's cache. Comes back by itself
 * after a lost connection; while it is down, entries still expire by their TTL.
 */
export const ReadCacheInvalidationLive = Layer.scopedDiscard(
  Effect.gen(function*() {
    const amqp = yield* AmqpConnection
    const cache = yield* ReadCache
    const listen = Effect.scoped(Effect.gen(function*() {
      const channel = yield* openChannel(yield* amqp.current)
      yield* channelCall(() => channel.assertExchange(LOGS_EXCHANGE, "topic", { durable: true }))
      const { queue } = yield* channelCall(() => channel.assertQueue("", { exclusive: true, autoDelete: true }))
      yield* channelCall(() => channel.bindQueue(queue, LOGS_EXCHANGE, invalidationKey("*")))
      // Invalidations sent while this node was not listening are lost: start from an empty cache.
      yield* cache.invalidateAll
      const runtime = yield* Effect.runtime<never>()
      yield* channelCall(() =>
        channel.consume(queue, (message) => {
          if (message === null) return
          Runtime.runSync(runtime)(cache.invalidate(message.fields.routingKey.slice(invalidationKey("").length)))
        }, { noAck: true }))
      return yield* awaitChannelClose(channel)
    }))
    yield* listen.pipe(
      Effect.catchAll((error) => Effect.logWarning(`cache invalidation listener: ${error.reason}`)),
      Effect.repeat(Schedule.spaced("200 millis")),
      Effect.forkScoped
    )
  })
)
