import { Deferred, Effect, Runtime } from "effect"
import { ReadCache } from "../core/read-cache.js"
import { cappedExponential } from "../kernel/backoff.js"
import { invalidatedTemplate, invalidationKey, LOGS_EXCHANGE } from "../protocol/routing.js"
import { awaitChannelClose, channelCall, openChannel } from "../transport/channel.js"
import { AmqpConnection } from "../transport/connection.js"

/**
 * The node's listener for cache invalidations from every node (this one included): it listens on
 * beds.logs for `cache.invalidate.{template}` through an exclusive queue of this node's own, and
 * clears that template's cache. It comes back by itself after a lost connection (with the one
 * backoff); while it is down, entries still expire by their TTL, and it starts from an empty
 * cache, since invalidations sent while it was not listening are lost.
 */
export class CacheInvalidation extends Effect.Service<CacheInvalidation>()("beds/CacheInvalidation", {
  scoped: Effect.gen(function*() {
    const amqp = yield* AmqpConnection
    const cache = yield* ReadCache
    const listening = yield* Deferred.make<void>()
    const listen = Effect.scoped(Effect.gen(function*() {
      const channel = yield* openChannel(yield* amqp.current)
      yield* channelCall(() => channel.assertExchange(LOGS_EXCHANGE, "topic", { durable: true }))
      const { queue } = yield* channelCall(() => channel.assertQueue("", { exclusive: true, autoDelete: true }))
      yield* channelCall(() => channel.bindQueue(queue, LOGS_EXCHANGE, invalidationKey("*")))
      yield* cache.invalidateAll
      const runSync = Runtime.runSync(yield* Effect.runtime<never>())
      yield* channelCall(() =>
        channel.consume(queue, (message) => {
          const template = message === null ? undefined : invalidatedTemplate(message.fields.routingKey)
          if (template !== undefined) runSync(cache.invalidate(template))
        }, { noAck: true }))
      yield* Deferred.succeed(listening, undefined)
      return yield* awaitChannelClose(channel)
    }))
    yield* listen.pipe(
      Effect.flatMap((reason) => Effect.logWarning(`cache invalidation listener: channel closed (${reason}); listening again`)),
      Effect.catchAll((error) => Effect.logWarning(`cache invalidation listener: ${error.reason}`).pipe(Effect.zipRight(Effect.fail(error)))),
      Effect.retry(cappedExponential(50, 5_000)),
      Effect.forever,
      Effect.forkScoped
    )
    /** Completes once the listener's queue is bound and consumed the first time. */
    return { ready: Deferred.await(listening) }
  })
}) {}
