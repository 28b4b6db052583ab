import type { Channel, ConfirmChannel, ConsumeMessage, GetMessage, Options } from "amqplib"
import { Effect, Schema } from "effect"
import { reasonOf } from "../kernel/errors.js"
import { DIRECT_REPLY_TO, EVENTS_EXCHANGE } from "../protocol/routing.js"
import { channelCall, openChannel, openConfirmChannel } from "../transport/channel.js"
import { openConnection, rabbitMqTarget, type RabbitMqConfig } from "../transport/connect.js"
import { brokerQueues } from "../transport/topology.js"
import { decodeDeadLetter, replayProperties, type DeadLetter } from "./dead-letter.js"

/** A dead-letter operation that could not be done; `message` is the one line the operator reads. */
export class DlqError extends Schema.TaggedError<DlqError>()("DlqError", { message: Schema.String }) {}

/**
 * One look at a broker type's dead-letter queue, for as long as the scope lasts. Messages are read
 * with basic.get and held unacknowledged, never consumed away: those the operator replays or purges
 * are acked (removed), and every other one goes back to the queue, in its place, when the session's
 * channel closes; also when this process dies, since RabbitMQ returns whatever a closed channel held.
 * Plain AMQP with the node's own connection settings, so no management plugin or port is needed.
 */
export const openDeadLetterQueue = (config: RabbitMqConfig, brokerType: string, options: { readonly timeoutMs: number }) =>
  Effect.gen(function*() {
    const queue = brokerQueues(brokerType).deadLetterQueue
    const where = `${queue} (${rabbitMqTarget(config)})`
    const failed = (doing: string) => (error: { readonly reason: string }) => new DlqError({ message: `${doing} ${where}: ${error.reason}` })
    const connection = yield* openConnection(config, { name: `beds dlq ${brokerType}`, timeoutMs: options.timeoutMs }).pipe(
      Effect.mapError((error) => new DlqError({ message: `rabbitmq ${error.target}: ${error.reason}` }))
    )
    const channel: Channel = yield* openChannel(connection).pipe(Effect.mapError(failed("opening a channel for")))
    const { messageCount } = yield* channelCall(() => channel.checkQueue(queue)).pipe(
      Effect.mapError((error) =>
        new DlqError({
          message: /NOT_FOUND|404/.test(error.reason)
            ? `no queue ${where}: no node has run a ${brokerType} pool on this vhost`
            : `checking ${where}: ${error.reason}`
        })
      )
    )

    /** Reads (and holds) up to `limit` dead letters, in queue order. */
    const read = (limit: number) =>
      Effect.gen(function*() {
        const held: Array<DeadLetter> = []
        while (held.length < limit) {
          const message: GetMessage | false = yield* channelCall(() => channel.get(queue, { noAck: false })).pipe(
            Effect.mapError(failed("reading"))
          )
          if (message === false) break
          held.push(decodeDeadLetter(message, held.length + 1))
        }
        return held
      })

    /** Removes held dead letters from the queue for good. */
    const remove = (letters: ReadonlyArray<DeadLetter>) =>
      Effect.forEach(letters, (letter) =>
        Effect.try({
          try: () => channel.ack(letter.message),
          catch: (error) => failed("acknowledging in")({ reason: reasonOf(error) })
        }), { discard: true })

    /** Waits until RabbitMQ has every ack sent so far (a round trip behind them on the same channel). */
    const settled = channelCall(() => channel.checkQueue(queue)).pipe(Effect.mapError(failed("settling")), Effect.asVoid)

    /**
     * A publisher of replays: each dead letter goes to beds.events with its original routing key and
     * properties (replayProperties), mandatory and confirmed, one at a time, so a return (no queue is
     * bound to that key) is known to be this message's before its confirm arrives. With `replyHere`
     * each replyTo is this session's direct reply-to, and `onReply` gets the replies. `sign` gives
     * the properties it goes out with, signed again (cli/resign.ts).
     */
    const replayer = (replay: {
      readonly replyHere: boolean
      readonly onReply: (message: ConsumeMessage) => void
      readonly sign: (letter: DeadLetter, properties: Options.Publish) => Options.Publish
    }) =>
      Effect.gen(function*() {
        const confirms: ConfirmChannel = yield* openConfirmChannel(connection).pipe(Effect.mapError(failed("opening a channel for")))
        let returned = false
        let closedBecause: string | undefined
        confirms.on("return", () => {
          returned = true
        })
        confirms.on("error", (error: unknown) => {
          closedBecause = reasonOf(error)
        })
        if (replay.replyHere) {
          yield* channelCall(() => confirms.consume(DIRECT_REPLY_TO, (message) => {
            if (message !== null) replay.onReply(message)
          }, { noAck: true })).pipe(Effect.mapError(failed("listening for replies beside")))
        }
        const notReplayed = (letter: DeadLetter, why: string) =>
          new DlqError({ message: `replaying #${letter.position} ${letter.id} to ${EVENTS_EXCHANGE} ${letter.routingKey}: ${closedBecause ?? why}` })
        return (letter: DeadLetter) =>
          Effect.async<Replayed, DlqError>((resume) => {
            returned = false
            const properties = replayProperties(letter.message.properties)
            const sent = replay.sign(letter, replay.replyHere ? { ...properties, replyTo: DIRECT_REPLY_TO } : properties)
            try {
              confirms.publish(EVENTS_EXCHANGE, letter.routingKey, letter.message.content, sent, (error) =>
                resume(
                  error
                    ? Effect.fail(notReplayed(letter, `not confirmed by RabbitMQ: ${reasonOf(error)}`))
                    : Effect.succeed(returned ? { _tag: "Unroutable", letter } : { _tag: "Published", letter, correlationId: sent.correlationId })
                ))
            } catch (error) {
              resume(Effect.fail(notReplayed(letter, reasonOf(error))))
            }
          })
      })

    return { queue, where, messageCount, read, remove, settled, replayer }
  })

/** How one replay ended. */
export type Replayed =
  | { readonly _tag: "Published"; readonly letter: DeadLetter; readonly correlationId: string | undefined }
  | { readonly _tag: "Unroutable"; readonly letter: DeadLetter }

export type DeadLetterQueue = Effect.Effect.Success<ReturnType<typeof openDeadLetterQueue>>
