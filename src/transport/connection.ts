import type { ChannelModel } from "amqplib"
import { Context, Deferred, Effect, Exit, Layer, Option, Stream, SubscriptionRef } from "effect"
import { cappedExponential } from "../kernel/backoff.js"
import { reasonOf } from "../kernel/errors.js"
import { recordConnection, recordReconnect } from "../telemetry/metrics.js"
import { openConnection, rabbitMqTarget, type RabbitMqConfig } from "./connect.js"

/**
 * The process's connection to RabbitMQ, kept open: when it closes (server restart, network,
 * `rabbitmqctl close_connection`) it is opened again with capped exponential backoff. Users take
 * the current connection and open their own channels on it; a closed channel tells them to come back.
 */
export class AmqpConnection extends Context.Tag("beds/AmqpConnection")<AmqpConnection, {
  /** The open connection; waits while there is none. */
  readonly current: Effect.Effect<ChannelModel>
  /**
   * Whether this connection has closed. Known as soon as amqplib reports it, before any of its
   * channels' users hear of their own close: a broker supervisor asks it to tell a lost connection
   * (RabbitMQ's own backoff applies) from a broker that failed on its own (its backoff applies).
   */
  readonly isLost: (connection: ChannelModel) => boolean
  /** Whether a connection is open now (readiness). */
  readonly connected: Effect.Effect<boolean>
}>() {}

export interface AmqpConnectionOptions {
  /** Shown in the RabbitMQ management UI and `rabbitmqctl list_connections client_properties`. */
  readonly name: string
  readonly connectTimeoutMs: number
}

export const makeAmqpConnection = (config: RabbitMqConfig, options: AmqpConnectionOptions) =>
  Effect.gen(function*() {
    const state = yield* SubscriptionRef.make<Option.Option<ChannelModel>>(Option.none())
    const lost = new WeakSet<ChannelModel>()
    const target = rabbitMqTarget(config)

    /** Completes with the reason when the connection closes; marks it lost at once. */
    const watchClose = (connection: ChannelModel) =>
      Effect.tap(Deferred.make<string>(), (closed) =>
        Effect.sync(() =>
          connection.once("close", (error?: Error) => {
            lost.add(connection)
            Deferred.unsafeDone(closed, Exit.succeed(error === undefined ? "closed" : reasonOf(error)))
          })
        ))

    // One connection's life: open it, publish it, wait for it to close. Failing to open is an
    // error (retried with backoff); a connection that opened and was later lost ends normally, so
    // the next attempt is immediate and the backoff starts over.
    let connections = 0
    const connectionLife = Effect.scoped(Effect.gen(function*() {
      const connection = yield* openConnection(config, { name: options.name, timeoutMs: options.connectTimeoutMs })
      const closed = yield* watchClose(connection)
      yield* SubscriptionRef.set(state, Option.some(connection))
      recordConnection(options.name, true)
      if (++connections > 1) recordReconnect(options.name)
      yield* Effect.logInfo(`rabbitmq connected (${target}, connection ${connections})`)
      const reason = yield* Deferred.await(closed).pipe(
        Effect.ensuring(Effect.zipRight(SubscriptionRef.set(state, Option.none()), Effect.sync(() => recordConnection(options.name, false))))
      )
      yield* Effect.logWarning(`rabbitmq connection lost: ${reason}; reconnecting`)
    }))

    yield* connectionLife.pipe(
      Effect.tapError((error) => Effect.logWarning(`rabbitmq connect failed: ${error.reason}; retrying`)),
      Effect.retry(cappedExponential(config.reconnect_base_delay_ms, config.reconnect_max_delay_ms)),
      Effect.forever,
      Effect.annotateLogs({ target }),
      Effect.forkScoped
    )

    return AmqpConnection.of({
      current: state.changes.pipe(
        Stream.filterMap((connection) => connection),
        Stream.runHead,
        // `changes` never ends while the service lives, so a head is always found.
        Effect.flatMap(Option.match({ onNone: () => Effect.dieMessage("connection state stream ended"), onSome: Effect.succeed }))
      ),
      isLost: (connection) => lost.has(connection),
      connected: Effect.map(SubscriptionRef.get(state), Option.isSome)
    })
  })

export const AmqpConnectionLive = (config: RabbitMqConfig, options: AmqpConnectionOptions) =>
  Layer.scoped(AmqpConnection, makeAmqpConnection(config, options))
