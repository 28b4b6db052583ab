import type { Channel, ConfirmChannel, ConsumeMessage, Options } from "amqplib"
import { Cause, Clock, Data, Duration, Effect, Exit } from "effect"
import type { Request } from "../protocol/envelope.js"
import { codeOf, type OperationError } from "../protocol/errors.js"
import { ackMessage, publishConfirmed, publishUnconfirmed } from "../transport/channel.js"
import { alreadyDone } from "../core/already-done.js"
import { reasonOf } from "../core/errors.js"
import type { Dispatch } from "./dispatch.js"
import { decodeDelivery, type Accepted, type Refused } from "./ingress.js"
import { settle, type Outcome, type Settlement } from "./settle.js"

export interface HandlerOptions {
  readonly brokerType: string
  readonly deadLetterExchange: string
  readonly transientRetries: number
  readonly retryBaseDelayMs: number
  readonly retryMaxDelayMs: number
}

/** A broker's two channels: requests are consumed, replied to and acked on `channel`. */
export interface BrokerChannels {
  readonly channel: Channel
  /** For what must be confirmed before the request is acked: dead letters, replies to durable queues. */
  readonly confirms: ConfirmChannel
}

/** What the handler needs from the broker that runs it. */
export interface BrokerHooks {
  /** Runs an effect as one of the broker's in-flight messages (its runtime; drained at shutdown). */
  readonly runInFlight: (effect: Effect.Effect<void>) => void
  /** A handler hit a defect: the broker is replaced once its in-flight messages are done. */
  readonly onDefect: () => void
}

class DeadlinePassed extends Data.TaggedError("DeadlinePassed") {}

const jsonContent = (value: unknown) => Buffer.from(JSON.stringify(value))

/** RabbitMQ's direct reply-to: delivered straight to the caller's channel, never stored in a queue. */
const isDirectReplyTo = (replyTo: string) => replyTo.startsWith("amq.rabbitmq.reply-to")

const leftUnacked = (reason: string) => Effect.logWarning(`message left unacked: ${reason}`)

/**
 * One message, start to end: decode, check the deadline, dispatch (retrying transient failures),
 * dead-letter when the policy says so, reply to replyTo with the same correlationId, then ack.
 * The request is acked only after its reply (and dead letter) are out: a dead letter is confirmed
 * by RabbitMQ first, and so is the reply to a persistent request whose replyTo is a real queue.
 * A reply to direct reply-to is not confirmed: it is never stored, so a confirm would promise
 * nothing, and it goes out on the channel the ack follows on, which RabbitMQ handles in order. If
 * the channel fails first, the message is not acked and RabbitMQ delivers it again.
 *
 * Only the operation runs as an Effect, in one fiber per message; decoding before it, and the
 * reply and ack after it on the common path (nothing to confirm, nothing to log), are plain calls.
 * An operation that is done before it runs (`Effect.succeed`: a read-cache hit) needs no fiber.
 * Each combinator on the per-message path was a measurable share of the node's CPU per request
 * (BENCHMARKS.md), so the slow paths (dead letters, confirms, defects) alone are built as Effects.
 */
export const makeMessageHandler = (dispatch: Dispatch["Type"], options: HandlerOptions) => {
  // The delays Schedule.exponential(base) capped by spaced(max) would give; a plain recursion
  // costs nothing on the success path, where Effect.retry built a schedule driver per message.
  const retryDelay = (attempt: number) => Duration.millis(Math.min(options.retryBaseDelayMs * 2 ** attempt, options.retryMaxDelayMs))
  const withTransientRetry = (run: Effect.Effect<unknown, OperationError>, attempt: number): Effect.Effect<unknown, OperationError> =>
    // Already a success (a read-cache hit): nothing to retry, and it stays done (see below).
    alreadyDone(run)?._tag === "Success" ? run : Effect.catchIf(
      run,
      (error) => error._tag === "Unavailable" && attempt < options.transientRetries,
      () => Effect.zipRight(Effect.sleep(retryDelay(attempt)), withTransientRetry(run, attempt + 1))
    )

  /** The operation, bounded by the request's deadline when it has one. */
  const runRequest = (request: Request, route: string): Effect.Effect<unknown, OperationError | DeadlinePassed> => {
    const run = withTransientRetry(dispatch.run(request, route), 0)
    if (request.deadline === undefined) return run
    const deadline = request.deadline
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const remainingMs = deadline - now
      return remainingMs <= 0
        ? Effect.fail(new DeadlinePassed())
        : Effect.timeoutFail(run, { duration: Duration.millis(remainingMs), onTimeout: () => new DeadlinePassed() })
    })
  }

  /** Stored and confirmed when the request was persistent and replyTo is a real queue. */
  const replyIsConfirmed = (ingress: Accepted | Refused, replyTo: string) =>
    (ingress._tag === "Accepted" ? ingress.persistent : true) && !isDirectReplyTo(replyTo)

  const replyOptions = (ingress: Accepted | Refused): Options.Publish => ({
    contentType: "application/json",
    ...(ingress.correlationId === undefined ? {} : { correlationId: ingress.correlationId }),
    ...(ingress.traceparent === undefined ? {} : { headers: { traceparent: ingress.traceparent } })
  })

  /** Settles a message as an Effect: dead letter (confirmed) first, then the reply, then the ack. */
  const settleSlowly = (
    { channel, confirms }: BrokerChannels,
    hooks: BrokerHooks,
    message: ConsumeMessage,
    ingress: Accepted | Refused,
    settlement: Settlement
  ): Effect.Effect<void> => {
    const replyTo = ingress.replyTo
    const reply = replyTo === undefined
      ? Effect.void
      : replyIsConfirmed(ingress, replyTo)
      ? publishConfirmed(confirms, "", replyTo, jsonContent(settlement.reply), { ...replyOptions(ingress), persistent: true })
      : publishUnconfirmed(channel, "", replyTo, jsonContent(settlement.reply), replyOptions(ingress))
    const settled = Effect.zipRight(reply, ackMessage(channel, message))
    const deadLetter = settlement.deadLetter
    const all = deadLetter === undefined ? settled : Effect.logWarning(`dead-lettered: ${deadLetter.code}: ${deadLetter.reason}`).pipe(
      Effect.annotateLogs({
        routingKey: message.fields.routingKey,
        ...(ingress._tag === "Accepted" ? { eventId: ingress.request.lineage.eventId } : {})
      }),
      // Dead letter first: once the caller has its reply, the dead letter already exists.
      Effect.zipRight(publishConfirmed(confirms, options.deadLetterExchange, message.fields.routingKey, message.content, {
        ...message.properties,
        persistent: true,
        headers: {
          ...message.properties.headers,
          "x-beds-code": deadLetter.code,
          "x-beds-reason": deadLetter.reason,
          "x-beds-broker": options.brokerType
        }
      })),
      Effect.zipRight(settled)
    )
    return all.pipe(
      Effect.tap(() => settlement.replaceBroker ? Effect.sync(hooks.onDefect) : Effect.void),
      // The channel failed under this message: it stays unacked and RabbitMQ delivers it again.
      Effect.catchAll((error) => leftUnacked(error.reason))
    )
  }

  /**
   * Settles a message: the common case (no dead letter, a reply nobody confirms) with plain calls,
   * and an Effect that is already done; anything else through settleSlowly.
   */
  const settleMessage = (
    channels: BrokerChannels,
    hooks: BrokerHooks,
    message: ConsumeMessage,
    ingress: Accepted | Refused,
    outcome: Outcome
  ): Effect.Effect<void> => {
    const settlement = settle(outcome, ingress._tag === "Accepted" ? ingress.request.lineage : undefined)
    const replyTo = ingress.replyTo
    if (settlement.deadLetter !== undefined || (replyTo !== undefined && replyIsConfirmed(ingress, replyTo))) {
      return settleSlowly(channels, hooks, message, ingress, settlement)
    }
    try {
      if (replyTo !== undefined) channels.channel.publish("", replyTo, jsonContent(settlement.reply), replyOptions(ingress))
      channels.channel.ack(message)
      return Effect.void
    } catch (error) {
      return leftUnacked(reasonOf(error))
    }
  }

  /** The outcome of a finished operation; a defect is logged with its cause first. */
  const settleExit = (
    channels: BrokerChannels,
    hooks: BrokerHooks,
    message: ConsumeMessage,
    ingress: Accepted,
    exit: Exit.Exit<unknown, OperationError | DeadlinePassed>
  ): Effect.Effect<void> => {
    if (Exit.isSuccess(exit)) return settleMessage(channels, hooks, message, ingress, { _tag: "Succeeded", data: exit.value })
    // Shutting down mid-operation: the message stays unacked; RabbitMQ keeps it for another broker.
    if (Cause.isInterruptedOnly(exit.cause)) return Effect.void
    const failure = Cause.failureOption(exit.cause)
    if (failure._tag === "Some") {
      const error = failure.value
      return settleMessage(channels, hooks, message, ingress, error._tag === "DeadlinePassed"
        ? { _tag: "Failed", code: "deadline_exceeded", message: "the request's deadline passed before it was done" }
        : { _tag: "Failed", code: codeOf(error), message: error.message })
    }
    const request = ingress.request
    return Effect.logError(`defect while handling ${request.template}.${request.op}`, exit.cause).pipe(
      Effect.annotateLogs({ eventId: request.lineage.eventId }),
      Effect.zipRight(settleMessage(channels, hooks, message, ingress, { _tag: "Defect", reference: request.lineage.eventId }))
    )
  }

  return (channels: BrokerChannels, message: ConsumeMessage, hooks: BrokerHooks): void => {
    const ingress = decodeDelivery(message)
    if (ingress._tag === "Refused") {
      hooks.runInFlight(settleMessage(channels, hooks, message, ingress, { _tag: "Refused", reason: ingress.reason }))
      return
    }
    const route = message.fields.routingKey.slice(0, message.fields.routingKey.indexOf("."))
    const operation = runRequest(ingress.request, route)
    const done = alreadyDone(operation)
    if (done !== undefined) {
      // Done already (a read-cache hit): settled here, with a fiber only if settling needs one.
      const settled = settleExit(channels, hooks, message, ingress, done)
      if (alreadyDone(settled) === undefined) hooks.runInFlight(settled)
      return
    }
    hooks.runInFlight(Effect.flatMap(Effect.exit(operation), (exit) => settleExit(channels, hooks, message, ingress, exit)))
  }
}
