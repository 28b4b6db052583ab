import type { ChannelModel, ConsumeMessage } from "amqplib"
import { Deferred, Duration, Effect, Exit, FiberSet, Schema } from "effect"
import { Trust } from "../config/trust.js"
import { Dispatch } from "../core/dispatch.js"
import type { Lineage } from "../protocol/envelope.js"
import { TRACEPARENT, WORKER_HEADER } from "../protocol/routing.js"
import { Tracing } from "../telemetry/tracing.js"
import { AmqpConnection } from "../transport/connection.js"
import { awaitChannelClose, channelCall, openChannel, openConfirmChannel } from "../transport/channel.js"
import { brokerQueues, declareBrokerTopology } from "../transport/topology.js"
import { deadLetterLog } from "./dead-letter-log.js"
import { makeDeliveryHandler } from "./delivery.js"
import { makeEntry } from "./entry.js"
import { makeInFlight } from "./in-flight.js"
import { makeObserver } from "./observe.js"
import type { OperationOptions } from "./operation.js"
import type { Outcome } from "./policy.js"
import { makeSettler, type Settled } from "./reply.js"
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
  readonly retry: OperationOptions
  /** On a node of several worker processes, the worker this runs in: its replies say so (`x-beds-worker`). */
  readonly worker?: number
}

/** Why a broker instance stopped consuming; the supervisor replaces it. */
export class BrokerStopped extends Schema.TaggedError<BrokerStopped>()("BrokerStopped", {
  reason: Schema.String,
  /** The connection it ran on was lost (RabbitMQ's reconnect backoff applies, not the broker's). */
  connectionLost: Schema.Boolean
}) {}

export interface BrokerHooks {
  /** The queues are declared and bound and the consumer started. */
  readonly onConsuming: Effect.Effect<void>
  readonly onStopped: Effect.Effect<void>
}

/**
 * One broker instance: a channel on the node's connection (and a confirm channel beside it for
 * dead letters and stored replies), the topology declared, a consumer with `prefetch` messages in
 * flight. Each delivery goes through the entry (brokers/entry.ts), which returns its outcome; an
 * operation that needs running gets a fiber of its own, the rest are settled in the consume
 * callback (brokers/reply.ts). It runs until a channel closes, RabbitMQ cancels its consumer, or a
 * message hits a defect; then it stops consuming, lets in-flight messages settle (up to the drain
 * timeout), closes its channels and fails, and the supervisor starts a new one. Interrupted
 * (shutdown), it drains the same way.
 */
export const runBroker = (spec: BrokerSpec, hooks: BrokerHooks) =>
  Effect.flatMap(AmqpConnection, (amqp) => Effect.flatMap(amqp.current, (connection) => {
    const stopped = (reason: string) => new BrokerStopped({ reason, connectionLost: amqp.isLost(connection) })
    return consume(spec, hooks, connection, stopped).pipe(Effect.catchTag("ChannelFailed", (error) => Effect.fail(stopped(error.reason))))
  })).pipe(
    // Message fibers are forked from this one and inherit its scheduler (see scheduler.ts).
    Effect.withScheduler(sharedScheduler)
  )

const consume = (spec: BrokerSpec, hooks: BrokerHooks, connection: ChannelModel, stopped: (reason: string) => BrokerStopped) =>
  Effect.scoped(Effect.gen(function*() {
    const channel = yield* openChannel(connection)
    const confirms = yield* openConfirmChannel(connection)
    let open = true
    channel.once("close", () => {
      open = false
    })
    const names = brokerQueues(spec.type)
    yield* declareBrokerTopology(channel, spec.type, { routes: spec.routes, queueType: spec.queueType })
    yield* channelCall(() => channel.prefetch(spec.prefetch))

    const fibers = yield* FiberSet.make<unknown, unknown>()
    // Message fibers run in this fiber's runtime (logger, log level) but belong to the set, not to this fiber.
    const runFork = yield* FiberSet.runtime(fibers)<never>()
    const stop = yield* Deferred.make<never, BrokerStopped>()
    const inFlight = makeInFlight()
    const clock = yield* Effect.clock
    // A message's log lines carry its trace id (from its W3C traceparent), like lines logged in a span.
    // A log line about a request is an event it caused: it carries the request's eventId as its
    // parentId and the request's depth + 1.
    const log = (effect: Effect.Effect<void>, message: ConsumeMessage, outcome: Outcome, lineage: Lineage | undefined) => {
      const traceparent = message.properties.headers?.["traceparent"]
      const traceId = typeof traceparent === "string" && TRACEPARENT.test(traceparent) ? traceparent.slice(3, 35) : undefined
      void runFork(effect.pipe(Effect.annotateLogs({
        routingKey: message.fields.routingKey,
        ...(outcome._tag === "Defect" ? { reference: outcome.reference } : {}),
        ...(traceId === undefined ? {} : { traceId }),
        ...(lineage === undefined ? {} : { parentId: lineage.eventId, depth: Math.min(lineage.depth + 1, 64) })
      })))
    }

    const ended = (message: ConsumeMessage, settled: Settled, outcome: Outcome, lineage: Lineage | undefined) => {
      inFlight.remove()
      if (outcome._tag === "Defect") log(Effect.logError(`defect while handling ${message.fields.routingKey}`, outcome.cause), message, outcome, lineage)
      switch (settled._tag) {
        case "Acked": {
          const deadLetter = settled.settlement.deadLetter
          if (deadLetter !== undefined) log(deadLetterLog.record(spec.type, deadLetter), message, outcome, lineage)
          if (settled.settlement.replaceBroker) Deferred.unsafeDone(stop, Exit.fail(stopped("a message hit a defect")))
          return
        }
        case "Rejected":
          log(Effect.logError(`settling failed on an open channel; rejected to the dead-letter queue: ${settled.reason}`), message, outcome, lineage)
          return Deferred.unsafeDone(stop, Exit.fail(stopped("settling a message failed")))
        case "LeftUnacked":
          log(Effect.logWarning(`message left unacked: ${settled.reason}`), message, outcome, lineage)
          // On an open channel it would stay held: the broker's end releases it to RabbitMQ.
          if (open) Deferred.unsafeDone(stop, Exit.fail(stopped(`a message could not be settled: ${settled.reason}`)))
      }
    }
    const handle = makeDeliveryHandler(
      makeEntry(yield* Dispatch, { ...spec.retry, now: () => clock.unsafeCurrentTimeMillis(), trust: yield* Trust }),
      makeSettler({
        brokerType: spec.type,
        deadLetterExchange: names.deadLetterExchange,
        ...(spec.worker === undefined ? {} : { replyHeaders: { [WORKER_HEADER]: String(spec.worker) } })
      }),
      { channel, confirms, isOpen: () => open },
      makeObserver({ pool: spec.type, queue: names.queue, ...(yield* Tracing) }),
      { fork: (effect) => void runFork(effect), ended }
    )

    const { consumerTag } = yield* channelCall(() =>
      channel.consume(names.queue, (message) => {
        if (message === null) return Deferred.unsafeDone(stop, Exit.fail(stopped("consumer cancelled by RabbitMQ (queue deleted?)")))
        inFlight.add()
        handle(message)
      }, { noAck: false })
    )
    yield* hooks.onConsuming
    yield* Effect.addFinalizer(() =>
      hooks.onStopped.pipe(
        Effect.zipRight(channelCall(() => channel.cancel(consumerTag)).pipe(Effect.ignore)),
        Effect.zipRight(inFlight.drained.pipe(Effect.timeout(Duration.millis(spec.drainTimeoutMs)), Effect.ignore))
      )
    )

    // raceFirst, not raceAll: each of these ends the broker by failing, and raceAll waits for a success.
    return yield* Effect.raceFirst(
      Effect.raceFirst(awaitChannelClose(channel), awaitChannelClose(confirms)).pipe(
        Effect.flatMap((reason) => Effect.fail(stopped(`channel closed: ${reason}`)))
      ),
      Deferred.await(stop)
    )
  }))

