import { Deferred, Duration, Effect, Exit, FiberSet, Schema } from "effect"
import { AmqpConnection } from "../transport/connection.js"
import { awaitChannelClose, channelCall, openChannel, openConfirmChannel } from "../transport/channel.js"
import { brokerQueues, declareBrokerTopology } from "../transport/topology.js"
import { Dispatch } from "./dispatch.js"
import { makeMessageHandler, type HandlerOptions } from "./handler.js"
import { makeSharedScheduler } from "./scheduler.js"

/** One scheduler for every broker of the process. */
const sharedScheduler = makeSharedScheduler()

/** Everything one broker type's pool needs, from config. */
export interface BrokerSpec {
  readonly type: string
  readonly instances: number
  readonly prefetch: number
  readonly routes: ReadonlyArray<string>
  readonly queueType: "classic" | "quorum"
  readonly drainTimeoutMs: number
  readonly retry: Pick<HandlerOptions, "transientRetries" | "retryBaseDelayMs" | "retryMaxDelayMs">
}

/** Why a broker instance stopped consuming; the supervisor replaces it. */
export class BrokerStopped extends Schema.TaggedError<BrokerStopped>()("BrokerStopped", { reason: Schema.String }) {}

/**
 * One broker instance: a channel on the node's connection (and a confirm channel beside it for
 * dead letters, see handler.ts), the topology declared, a consumer with `prefetch` messages in
 * flight, each with its operation in a fiber of its own (handler.ts). It runs until a channel
 * closes, RabbitMQ cancels its consumer, or a handler hits a defect; then it stops consuming, lets
 * in-flight messages finish (up to the drain timeout), closes its channels and fails, and the
 * supervisor starts a new one. Interrupted (shutdown), it drains the same way.
 */
export const runBroker = (spec: BrokerSpec, hooks: { readonly onConsuming: Effect.Effect<void>; readonly onStopped: Effect.Effect<void> }) =>
  Effect.scoped(Effect.gen(function*() {
    const amqp = yield* AmqpConnection
    const connection = yield* amqp.current
    const channel = yield* openChannel(connection)
    const confirms = yield* openConfirmChannel(connection)
    const channels = { channel, confirms }
    const names = brokerQueues(spec.type)
    yield* declareBrokerTopology(channel, spec.type, { routes: spec.routes, queueType: spec.queueType })
    yield* channelCall(() => channel.prefetch(spec.prefetch))

    const inFlight = yield* FiberSet.make<unknown, unknown>()
    // Handler fibers run in this fiber's runtime (logger, log level) but belong to the set, not to this fiber.
    const runInFlight = yield* FiberSet.runtime(inFlight)<never>()
    const stop = yield* Deferred.make<never, BrokerStopped>()
    const handleMessage = makeMessageHandler(yield* Dispatch, {
      brokerType: spec.type,
      deadLetterExchange: names.deadLetterExchange,
      ...spec.retry
    })

    const brokerHooks = {
      runInFlight: (effect: Effect.Effect<void>) => void runInFlight(effect),
      onDefect: () => Deferred.unsafeDone(stop, Exit.fail(new BrokerStopped({ reason: "a handler hit a defect" })))
    }
    const { consumerTag } = yield* channelCall(() =>
      channel.consume(names.queue, (message) => {
        if (message === null) {
          Deferred.unsafeDone(stop, Exit.fail(new BrokerStopped({ reason: "consumer cancelled by RabbitMQ (queue deleted?)" })))
          return
        }
        handleMessage(channels, message, brokerHooks)
      }, { noAck: false })
    )
    yield* hooks.onConsuming
    yield* Effect.addFinalizer(() =>
      hooks.onStopped.pipe(
        Effect.zipRight(channelCall(() => channel.cancel(consumerTag)).pipe(Effect.ignore)),
        Effect.zipRight(FiberSet.awaitEmpty(inFlight).pipe(Effect.timeout(Duration.millis(spec.drainTimeoutMs)), Effect.ignore))
      )
    )

    const closed = (reason: string) => new BrokerStopped({ reason: `channel closed: ${reason}` })
    // raceFirst, not raceAll: each of these ends the broker by failing, and raceAll waits for a success.
    return yield* Effect.raceFirst(
      Effect.raceFirst(awaitChannelClose(channel), awaitChannelClose(confirms)).pipe(Effect.flatMap(closed)),
      Deferred.await(stop)
    )
  })).pipe(
    // Message fibers are forked from this one and inherit its scheduler (see scheduler.ts).
    Effect.withScheduler(sharedScheduler)
  )
