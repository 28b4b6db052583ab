import type { Channel, ChannelModel, ConfirmChannel, Message, Options } from "amqplib"
import { Effect, Schema } from "effect"
import { reasonOf } from "../kernel/errors.js"

/** A channel operation failed, usually because the channel or its connection closed. */
export class ChannelFailed extends Schema.TaggedError<ChannelFailed>()("ChannelFailed", { reason: Schema.String }) {}

const failed = (cause: unknown) => new ChannelFailed({ reason: reasonOf(cause) })

const openWith = <C extends Channel>(create: () => Promise<C>) =>
  Effect.acquireRelease(
    Effect.tryPromise({ try: create, catch: failed }).pipe(
      // A channel error (e.g. a precondition failure) is also reported by 'close'; unhandled, 'error' kills the process.
      Effect.tap((channel) => Effect.sync(() => channel.on("error", () => undefined)))
    ),
    (channel) => Effect.promise(() => channel.close().catch(() => undefined))
  )

/** A confirm channel (RabbitMQ confirms every publish on it), closed when the scope ends. */
export const openConfirmChannel = (connection: ChannelModel) => openWith(() => connection.createConfirmChannel())

/**
 * A plain channel, closed when the scope ends. For publishes nobody waits a confirm for: on a
 * confirm channel RabbitMQ confirms every publish whether anyone waits or not, and that work was
 * measured at 20-30 µs of RabbitMQ's CPU per request/reply round trip (BENCHMARKS.md).
 */
export const openChannel = (connection: ChannelModel) => openWith(() => connection.createChannel())

/** Resolves with the reason when the channel closes (its own error, or the connection's loss). */
export const awaitChannelClose = (channel: Channel) =>
  Effect.async<string>((resume) => {
    let lastError: string | undefined
    const onError = (error: Error) => {
      lastError = reasonOf(error)
    }
    const onClose = () => resume(Effect.succeed(lastError ?? "channel closed"))
    channel.on("error", onError)
    channel.once("close", onClose)
    return Effect.sync(() => {
      channel.off("error", onError)
      channel.off("close", onClose)
    })
  })

/** Publishes and waits for RabbitMQ's confirm: after success the message is RabbitMQ's to keep. */
export const publishConfirmed = (
  channel: ConfirmChannel,
  exchange: string,
  routingKey: string,
  content: Buffer,
  options: Options.Publish
) =>
  Effect.async<void, ChannelFailed>((resume) => {
    try {
      channel.publish(exchange, routingKey, content, options, (error) =>
        resume(error ? Effect.fail(failed(error)) : Effect.void))
    } catch (error) {
      resume(Effect.fail(failed(error)))
    }
  })

/** Publishes without waiting for a confirm (the fast path). */
export const publishUnconfirmed = (
  channel: Channel,
  exchange: string,
  routingKey: string,
  content: Buffer,
  options: Options.Publish
) => Effect.try({ try: () => void channel.publish(exchange, routingKey, content, options), catch: failed })

export const channelCall = <A>(operation: () => Promise<A>) => Effect.tryPromise({ try: operation, catch: failed })

/** Acknowledges a delivery; fails if the channel closed (RabbitMQ then redelivers it). */
export const ackMessage = (channel: Channel, message: Message) => Effect.try({ try: () => channel.ack(message), catch: failed })
