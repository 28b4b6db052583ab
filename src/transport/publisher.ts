import type { ConfirmChannel } from "amqplib"
import { Duration, Effect, Scope } from "effect"
import { Unavailable } from "../protocol/errors.js"
import { LOGS_EXCHANGE } from "../protocol/routing.js"
import { openConfirmChannel, publishConfirmed } from "./channel.js"
import { AmqpConnection } from "./connection.js"

/** How long a publish waits for a connection before it reports the broker unavailable. */
const CONNECTION_WAIT = Duration.seconds(5)

/** Publishes events (audit, journal, cache invalidation) to beds.logs, confirmed by RabbitMQ. */
export class LogPublisher extends Effect.Service<LogPublisher>()("beds/LogPublisher", {
  scoped: Effect.gen(function*() {
    const amqp = yield* AmqpConnection
    const scope = yield* Effect.scope
    const opening = yield* Effect.makeSemaphore(1)
    // One confirm channel, opened on first use and again after it closes (lost connection).
    let channel: ConfirmChannel | undefined
    const current = opening.withPermits(1)(Effect.suspend(() => {
      if (channel !== undefined) return Effect.succeed(channel)
      return amqp.current.pipe(
        Effect.timeoutFail({ duration: CONNECTION_WAIT, onTimeout: () => new Unavailable({ message: "rabbitmq: no connection" }) }),
        Effect.flatMap((connection) => Scope.extend(openConfirmChannel(connection), scope)),
        Effect.mapError((error) => new Unavailable({ message: `rabbitmq: ${"reason" in error ? error.reason : error.message}` })),
        Effect.tap((opened) =>
          Effect.sync(() => {
            channel = opened
            opened.once("close", () => {
              if (channel === opened) channel = undefined
            })
          }))
      )
    }))
    return {
      publish: (routingKey: string, body: unknown): Effect.Effect<void, Unavailable> =>
        Effect.flatMap(current, (open) =>
          publishConfirmed(open, LOGS_EXCHANGE, routingKey, Buffer.from(JSON.stringify(body)), {
            persistent: true,
            contentType: "application/json"
          }).pipe(Effect.mapError((error) => new Unavailable({ message: `rabbitmq: ${error.reason}` }))))
    }
  })
}) {}
