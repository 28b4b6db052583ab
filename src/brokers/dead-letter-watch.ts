import { Duration, Effect, Layer, Schedule } from "effect"
import { channelCall, openChannel } from "../transport/channel.js"
import { AmqpConnection } from "../transport/connection.js"
import { brokerQueues } from "../transport/topology.js"

export interface DeadLetterWatchOptions {
  /** More messages than this in a dead-letter queue is a warning. */
  readonly warnLength: number
  /** Seconds between checks; 0 turns the watch off. */
  readonly intervalS: number
}

/**
 * Every `intervalS` seconds, the length of each of the node's dead-letter queues: a queue over
 * `warnLength` is logged as a warning at every check until it is back under (then once, as info).
 * Dead-letter queues have no length limit, so nothing is ever dropped: this is how an operator
 * hears that they grow. A queue not declared yet (its pool has not started) is skipped; each check
 * uses a channel of its own, since RabbitMQ closes the channel of a check that finds no queue.
 */
export const DeadLetterWatchLive = (brokerTypes: ReadonlyArray<string>, options: DeadLetterWatchOptions) =>
  options.intervalS === 0 || brokerTypes.length === 0
    ? Layer.empty
    : Layer.scopedDiscard(Effect.gen(function*() {
      const amqp = yield* AmqpConnection
      const over = new Set<string>()
      const lengthOf = (queue: string) =>
        Effect.scoped(Effect.gen(function*() {
          const channel = yield* openChannel(yield* amqp.current)
          return (yield* channelCall(() => channel.checkQueue(queue))).messageCount
        }))
      const checkOne = (brokerType: string) => {
        const queue = brokerQueues(brokerType).deadLetterQueue
        return lengthOf(queue).pipe(
          Effect.flatMap((length) => {
            if (length > options.warnLength) {
              over.add(queue)
              return Effect.logWarning(
                `dead-letter queue ${queue} holds ${length} messages, more than dead_letters.warn_length ${options.warnLength}: ` +
                  `see \`beds dlq list --type ${brokerType}\``
              )
            }
            if (!over.delete(queue)) return Effect.void
            return Effect.logInfo(`dead-letter queue ${queue} is back under dead_letters.warn_length ${options.warnLength} (${length} messages)`)
          }),
          Effect.catchTag("ChannelFailed", () => Effect.void)
        )
      }
      yield* Effect.forEach(brokerTypes, checkOne, { discard: true }).pipe(
        Effect.repeat(Schedule.spaced(Duration.seconds(options.intervalS))),
        Effect.forkScoped
      )
    }))
