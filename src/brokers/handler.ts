import type { Channel, ConfirmChannel, ConsumeMessage, Options } from "amqplib"
import { Cause, Clock, Data, Duration, Effect, Exit } from "effect"
import type { Request } from "../protocol/envelope.js"
import { codeOf, type OperationError } from "../protocol/errors.js"
import { ackMessage, publishConfirmed, publishUnconfirmed } from "../transport/channel.js"
import type { Dispatch } from "./dispatch.js"
import { decodeDelivery, type Accepted, type Refused } from "./ingress.js"
import { settle, type Outcome } from "./settle.js"

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

class DeadlinePassed extends Data.TaggedError("DeadlinePassed") {}

/** What the broker loop must know after a message is settled. */
export type Handled = { readonly _tag: "Settled"; readonly replaceBroker: boolean } | { readonly _tag: "Interrupted" }

const jsonContent = (value: unknown) => Buffer.from(JSON.stringify(value))

/** RabbitMQ's direct reply-to: delivered straight to the caller's channel, never stored in a queue. */
const isDirectReplyTo = (replyTo: string) => replyTo.startsWith("amq.rabbitmq.reply-to")

/**
 * One message, start to end: decode, check the deadline, dispatch (retrying transient failures),
 * dead-letter when the policy says so, reply to replyTo with the same correlationId, then ack.
 * The request is acked only after its reply (and dead letter) are out: a dead letter is confirmed
 * by RabbitMQ first, and so is the reply to a persistent request whose replyTo is a real queue.
 * A reply to direct reply-to is not confirmed: it is never stored, so a confirm would promise
 * nothing, and it goes out on the channel the ack follows on, which RabbitMQ handles in order. If
 * the channel fails first, the message is not acked and RabbitMQ delivers it again.
 */
export const makeMessageHandler = (dispatch: Dispatch["Type"], options: HandlerOptions) => {
  // The delays Schedule.exponential(base) capped by spaced(max) would give; a plain recursion
  // costs nothing on the success path, where Effect.retry built a schedule driver per message.
  const retryDelay = (attempt: number) => Duration.millis(Math.min(options.retryBaseDelayMs * 2 ** attempt, options.retryMaxDelayMs))
  const withTransientRetry = (run: Effect.Effect<unknown, OperationError>, attempt: number): Effect.Effect<unknown, OperationError> =>
    Effect.catchIf(
      run,
      (error) => error._tag === "Unavailable" && attempt < options.transientRetries,
      () => Effect.zipRight(Effect.sleep(retryDelay(attempt)), withTransientRetry(run, attempt + 1))
    )

  const outcomeOf = (exit: Exit.Exit<unknown, OperationError | DeadlinePassed>, request: Request): Effect.Effect<Outcome | undefined> => {
    if (Exit.isSuccess(exit)) return Effect.succeed({ _tag: "Succeeded", data: exit.value })
    // Shutting down mid-operation: the message stays unacked; RabbitMQ keeps it for another broker.
    if (Cause.isInterruptedOnly(exit.cause)) return Effect.succeed(undefined)
    const failure = Cause.failureOption(exit.cause)
    if (failure._tag === "Some") {
      const error = failure.value
      return Effect.succeed(error._tag === "DeadlinePassed"
        ? { _tag: "Failed", code: "deadline_exceeded", message: "the request's deadline passed before it was done" }
        : { _tag: "Failed", code: codeOf(error), message: error.message })
    }
    return Effect.logError(`defect while handling ${request.template}.${request.op}`, exit.cause).pipe(
      Effect.annotateLogs({ eventId: request.lineage.eventId }),
      Effect.as({ _tag: "Defect", reference: request.lineage.eventId } as const)
    )
  }

  /** Runs a decoded request to its outcome; undefined when interrupted (shutdown mid-operation). */
  const runRequest = (request: Request, route: string): Effect.Effect<Outcome | undefined> => {
    const run = withTransientRetry(dispatch.run(request, route), 0)
    if (request.deadline === undefined) return Effect.flatMap(Effect.exit(run), (exit) => outcomeOf(exit, request))
    const deadline = request.deadline
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const remainingMs = deadline - now
      const bounded = remainingMs <= 0 ? Effect.fail(new DeadlinePassed()) : run.pipe(
        Effect.timeoutFail({ duration: Duration.millis(remainingMs), onTimeout: () => new DeadlinePassed() })
      )
      return Effect.flatMap(Effect.exit(bounded), (exit) => outcomeOf(exit, request))
    })
  }

  /** Stored and confirmed when the request was persistent and replyTo is a real queue; otherwise sent on `channel`. */
  const publishReply = ({ channel, confirms }: BrokerChannels, ingress: Accepted | Refused, replyTo: string, content: Buffer) => {
    const replyOptions: Options.Publish = {
      contentType: "application/json",
      ...(ingress.correlationId === undefined ? {} : { correlationId: ingress.correlationId }),
      ...(ingress.traceparent === undefined ? {} : { headers: { traceparent: ingress.traceparent } })
    }
    const confirmed = (ingress._tag === "Accepted" ? ingress.persistent : true) && !isDirectReplyTo(replyTo)
    return confirmed
      ? publishConfirmed(confirms, "", replyTo, content, { ...replyOptions, persistent: true })
      : publishUnconfirmed(channel, "", replyTo, content, replyOptions)
  }

  return (channels: BrokerChannels, message: ConsumeMessage) => {
    const { channel, confirms } = channels
    const ingress = decodeDelivery(message)
    const route = message.fields.routingKey.slice(0, message.fields.routingKey.indexOf("."))
    const outcome = ingress._tag === "Refused"
      ? Effect.succeed<Outcome>({ _tag: "Refused", reason: ingress.reason })
      : runRequest(ingress.request, route)
    return Effect.flatMap(outcome, (outcome) => {
      if (outcome === undefined) return Effect.succeed<Handled>({ _tag: "Interrupted" })
      const lineage = ingress._tag === "Accepted" ? ingress.request.lineage : undefined
      const settlement = settle(outcome, lineage)
      const replyTo = ingress.replyTo
      const reply = replyTo === undefined ? Effect.void : publishReply(channels, ingress, replyTo, jsonContent(settlement.reply))
      const settled = reply.pipe(
        Effect.zipRight(ackMessage(channel, message)),
        Effect.as<Handled>({ _tag: "Settled", replaceBroker: settlement.replaceBroker })
      )
      if (settlement.deadLetter === undefined) return settled
      const deadLetter = settlement.deadLetter
      // Dead letter first: once the caller has its reply, the dead letter already exists.
      return Effect.logWarning(`dead-lettered: ${deadLetter.code}: ${deadLetter.reason}`).pipe(
        Effect.annotateLogs({ routingKey: message.fields.routingKey, ...(lineage ? { eventId: lineage.eventId } : {}) }),
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
    })
  }
}
