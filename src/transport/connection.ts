import type { ChannelModel } from "amqplib"
import { Context, Duration, Effect, Layer, Option, Schedule, Stream, SubscriptionRef } from "effect"
import { reasonOf } from "../core/errors.js"
import { openConnection, rabbitMqTarget, type RabbitMqConfig } from "./connect.js"

/**
 * The process's connection to RabbitMQ, kept open: when it closes (server restart, network,
 * `rabbitmqctl close_connection`) it is opened again with capped exponential backoff. Users take
 * the current connection and open their own channels on it; a closed channel tells them to come back.
 */
export class AmqpConnection extends Context.Tag("beds/AmqpConnection")<AmqpConnection, {
  /** The open connection; waits while there is none. */
  readonly current: Effect.Effect<ChannelModel>
  /** The open connection, or none right now. */
  readonly peek: Effect.Effect<Option.Option<ChannelModel>>
  /** Incremented on every successful (re)connect; 1 after the first. */
  readonly generation: Effect.Effect<number>
}>() {}

export interface AmqpConnectionOptions {
  /** Shown in the RabbitMQ management UI and `rabbitmqctl list_connections client_properties`. */
  readonly name: string
  readonly connectTimeoutMs: number
}

/** Resolves when the connection closes, for whatever reason. */
const awaitClose = (connection: ChannelModel) =>
  Effect.async<string>((resume) => {
    const onClose = (error?: Error) => resume(Effect.succeed(error === undefined ? "closed" : reasonOf(error)))
    connection.once("close", onClose)
    return Effect.sync(() => connection.off("close", onClose))
  })

export const makeAmqpConnection = (config: RabbitMqConfig, options: AmqpConnectionOptions) =>
  Effect.gen(function*() {
    const state = yield* SubscriptionRef.make<{ readonly connection: Option.Option<ChannelModel>; readonly generation: number }>({
      connection: Option.none(),
      generation: 0
    })
    const target = rabbitMqTarget(config)
    const reconnectSchedule = Schedule.exponential(Duration.millis(config.reconnect_base_delay_ms)).pipe(
      Schedule.union(Schedule.spaced(Duration.millis(config.reconnect_max_delay_ms)))
    )

    // One connection's life: open it, publish it, wait for it to close. Failing to open is an
    // error (retried with backoff); a connection that opened and was later lost ends normally, so
    // the next attempt is immediate and the backoff starts over.
    const connectionLife = Effect.scoped(Effect.gen(function*() {
      const connection = yield* openConnection(config, { name: options.name, timeoutMs: options.connectTimeoutMs })
      const generation = yield* SubscriptionRef.modify(state, (s) => [s.generation + 1, { connection: Option.some(connection), generation: s.generation + 1 }])
      yield* Effect.logInfo(`rabbitmq connected (${target}, connection ${generation})`)
      const reason = yield* awaitClose(connection).pipe(
        Effect.ensuring(SubscriptionRef.update(state, (s) => ({ ...s, connection: Option.none() })))
      )
      yield* Effect.logWarning(`rabbitmq connection lost: ${reason}; reconnecting`)
    }))

    yield* connectionLife.pipe(
      Effect.tapError((error) => Effect.logWarning(`rabbitmq connect failed: ${error.reason}; retrying`)),
      Effect.retry(reconnectSchedule),
      Effect.forever,
      Effect.annotateLogs({ target }),
      Effect.forkScoped
    )

    return AmqpConnection.of({
      current: state.changes.pipe(
        Stream.filterMap((s) => s.connection),
        Stream.runHead,
        // `changes` never ends while the service lives, so a head is always found.
        Effect.flatMap(Option.match({ onNone: () => Effect.dieMessage("connection state stream ended"), onSome: Effect.succeed }))
      ),
      peek: SubscriptionRef.get(state).pipe(Effect.map((s) => s.connection)),
      generation: SubscriptionRef.get(state).pipe(Effect.map((s) => s.generation))
    })
  })

export const AmqpConnectionLive = (config: RabbitMqConfig, options: AmqpConnectionOptions) =>
  Layer.scoped(AmqpConnection, makeAmqpConnection(config, options))
