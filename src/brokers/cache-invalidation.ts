import { Deferred, Effect, Runtime } from "effect"
import { Trust } from "../config/trust.js"
import { ReadCache } from "../core/read-cache.js"
import { cappedExponential } from "../kernel/backoff.js"
import { invalidatedTemplate, invalidationKey, LOGS_EXCHANGE } from "../protocol/routing.js"
import { awaitChannelClose, channelCall, openChannel } from "../transport/channel.js"
import { recordEventRejected } from "../telemetry/metrics.js"
import { contextOfHeaders, endSpan, isSampled, SpanKind, startSpan, Tracing } from "../telemetry/tracing.js"
import { makeEventVerifier } from "./trust.js"
import { AmqpConnection } from "../transport/connection.js"

/**
 * The node's listener for cache invalidations from every node (this one included): it listens on
 * beds.logs for `cache.invalidate.{template}` through an exclusive queue of this node's own, and
 * clears that template's cache. It comes back by itself after a lost connection (with the one
 * backoff); while it is down, entries still expire by their TTL, and it starts from an empty
 * cache, since invalidations sent while it was not listening are lost. An invalidation no node
 * signed (trust.node_keys) is dropped, counted (beds_events_rejected_total) and logged, never applied.
 */
export class CacheInvalidation extends Effect.Service<CacheInvalidation>()("beds/CacheInvalidation", {
  scoped: Effect.gen(function*() {
    const amqp = yield* AmqpConnection
    const cache = yield* ReadCache
    const { sampleRatio, tracer } = yield* Tracing
    const verify = makeEventVerifier(yield* Trust, Date.now)
    let dropped = 0
    let loggedAt = 0
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
          if (message === null || template === undefined) return
          const refused = verify(message)
          if (refused !== undefined) {
            recordEventRejected("cache", refused)
            dropped++
            // One line per 10 s at most: a flood of forged events does not flood the log.
            if (Date.now() - loggedAt >= 10_000) {
              runSync(Effect.logWarning(`cache invalidation dropped: ${refused} (${dropped} dropped since the last such line)`).pipe(
                Effect.annotateLogs({ routingKey: message.fields.routingKey })
              ))
              loggedAt = Date.now()
              dropped = 0
            }
            return
          }
          // Traced: a consumer span under the write that sent it (its headers carry the context).
          const consumed = tracer === undefined || !isSampled(message.properties.headers, sampleRatio) ? undefined : startSpan(tracer, `process ${message.fields.routingKey}`, SpanKind.CONSUMER, {
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "process",
            "messaging.destination.name": LOGS_EXCHANGE,
            "messaging.rabbitmq.destination.routing_key": message.fields.routingKey
          }, contextOfHeaders(message.properties.headers))
          runSync(cache.invalidate(template))
          if (consumed !== undefined) endSpan(consumed.span)
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
