import type { ConfirmChannel, ConsumeMessage, Options } from "amqplib"
import { Cause, Clock, Data, Duration, Effect, Exit, Schedule } from "effect"
import type { Request } from "../protocol/envelope.js"
import { codeOf, type OperationError } from "../protocol/errors.js"
import { ackMessage, publishConfirmed, publishUnconfirmed } from "../transport/channel.js"
import { Dispatch } from "./dispatch.js"
import { decodeDelivery } from "./ingress.js"
import { settle, type Outcome } from "./settle.js"

export interface HandlerOptions {
  readonly brokerType: string
  readonly deadLetterExchange: string
  readonly transientRetries: number
  readonly retryBaseDelayMs: number
  readonly retryMaxDelayMs: number
}

class DeadlinePassed extends Data.TaggedError("DeadlinePassed") {}

/** What the broker loop must know after a message is settled. */
export type Handled = { readonly _tag: "Settled"; readonly replaceBroker: boolean } | { readonly _tag: "Interrupted" }

const jsonContent = (value: unknown) => Buffer.from(JSON.stringify(value))

/**
 * One message, start to end: decode, check the deadline, dispatch (retrying transient failures),
 * dead-letter when the policy says so, reply to replyTo with the same correlationId, then ack.
 * The request is acked only after its reply (and dead letter) are out; on the reliable path
 * (a persistent request) only after RabbitMQ confirmed them. If the channel fails first, the
 * message is not acked and RabbitMQ delivers it again.
 */
export const makeMessageHandler = (options: HandlerOptions) => {
  // Built once per broker, not per message.
  const transientRetry = {
    schedule: Schedule.exponential(Duration.millis(options.retryBaseDelayMs)).pipe(
      Schedule.union(Schedule.spaced(Duration.millis(options.retryMaxDelayMs))),
      Schedule.intersect(Schedule.recurs(options.transientRetries))
    ),
    while: (error: OperationError) => error._tag === "Unavailable"
  }
  /** Runs a decoded request to its outcome; undefined when interrupted (shutdown mid-operation). */
  const outcomeOf = (request: Request, route: string) =>
    Effect.gen(function*() {
      const dispatch = yield* Dispatch
      const now = yield* Clock.currentTimeMillis
      const remainingMs = request.deadline === undefined ? undefined : request.deadline - now
      const exit = remainingMs !== undefined && remainingMs <= 0
        ? Exit.fail(new DeadlinePassed())
        : yield* dispatch.run(request, route).pipe(
          Effect.retry(transientRetry),
          (run) => remainingMs === undefined ? run : run.pipe(
            Effect.timeoutFail({ duration: Duration.millis(remainingMs), onTimeout: () => new DeadlinePassed() })
          ),
          Effect.exit
        )
      if (Exit.isSuccess(exit)) return { _tag: "Succeeded", data: exit.value } as Outcome
      // Shutting down mid-operation: the message stays unacked; RabbitMQ keeps it for another broker.
      if (Cause.isInterruptedOnly(exit.cause)) return undefined
      const failure = Cause.failureOption(exit.cause)
      if (failure._tag === "Some") {
        const error = failure.value
        return (error._tag === "DeadlinePassed"
          ? { _tag: "Failed", code: "deadline_exceeded", message: "the request's deadline passed before it was done" }
          : { _tag: "Failed", code: codeOf(error), message: error.message }) as Outcome
      }
      yield* Effect.logError(`defect while handling ${request.template}.${request.op}`, exit.cause).pipe(
        Effect.annotateLogs({ eventId: request.lineage.eventId })
      )
      return { _tag: "Defect", reference: request.lineage.eventId } as Outcome
    })

  return (channel: ConfirmChannel, message: ConsumeMessage) => Effect.gen(function*() {
    const ingress = decodeDelivery(message)
    const route = message.fields.routingKey.slice(0, message.fields.routingKey.indexOf("."))
    const outcome: Outcome | undefined = ingress._tag === "Refused"
      ? { _tag: "Refused", reason: ingress.reason }
      : yield* outcomeOf(ingress.request, route)
    if (outcome === undefined) return { _tag: "Interrupted" } as Handled
    const lineage = ingress._tag === "Accepted" ? ingress.request.lineage : undefined

    const settlement = settle(outcome, lineage)
    const reliable = ingress._tag === "Accepted" ? ingress.persistent : true
    const publish = reliable ? publishConfirmed : publishUnconfirmed
    // Dead letter first: once the caller has its reply, the dead letter already exists.
    if (settlement.deadLetter !== undefined) {
      yield* Effect.logWarning(`dead-lettered: ${settlement.deadLetter.code}: ${settlement.deadLetter.reason}`).pipe(
        Effect.annotateLogs({ routingKey: message.fields.routingKey, ...(lineage ? { eventId: lineage.eventId } : {}) })
      )
      yield* publishConfirmed(channel, options.deadLetterExchange, message.fields.routingKey, message.content, {
        ...message.properties,
        persistent: true,
        headers: {
          ...message.properties.headers,
          "x-beds-code": settlement.deadLetter.code,
          "x-beds-reason": settlement.deadLetter.reason,
          "x-beds-broker": options.brokerType
        }
      })
    }
    if (ingress.replyTo !== undefined) {
      const replyOptions: Options.Publish = {
        contentType: "application/json",
        ...(ingress.correlationId === undefined ? {} : { correlationId: ingress.correlationId }),
        ...(ingress.traceparent === undefined ? {} : { headers: { traceparent: ingress.traceparent } })
      }
      yield* publish(channel, "", ingress.replyTo, jsonContent(settlement.reply), replyOptions)
    }
    yield* ackMessage(channel, message)
    return { _tag: "Settled", replaceBroker: settlement.replaceBroker } as Handled
  })
}
