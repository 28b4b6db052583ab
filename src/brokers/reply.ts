import type { Channel, ConfirmChannel, ConsumeMessage, Options } from "amqplib"
import { Cause } from "effect"
import { reasonOf } from "../kernel/errors.js"
import type { Accepted, Refused } from "./ingress.js"
import { settlementOf, type Outcome, type Settlement } from "./policy.js"

/**
 * A broker's two channels, as far as settling needs them: requests are consumed, replied to and
 * acked on `channel`; dead letters and replies to durable queues go on `confirms`, so they are
 * RabbitMQ's before the request is acked. `isOpen` says whether `channel` still is.
 */
export interface BrokerChannels {
  readonly channel: Pick<Channel, "publish" | "ack" | "nack">
  readonly confirms: Pick<ConfirmChannel, "publish">
  readonly isOpen: () => boolean
}

/** How settling a message ended. */
export type Settled =
  /** Replied (when it could be answered), dead-lettered when the policy says so, and acked. */
  | { readonly _tag: "Acked"; readonly settlement: Settlement }
  /**
   * Settling threw on an open channel (a bug): the message was rejected without requeue, so
   * RabbitMQ dead-letters it through the queue's own dead-letter exchange; the broker is replaced.
   */
  | { readonly _tag: "Rejected"; readonly reason: string }
  /** The channel failed first: the message stays unacked and RabbitMQ delivers it again. */
  | { readonly _tag: "LeftUnacked"; readonly reason: string }

/**
 * The last resort when settling threw. On an open channel that is a bug of ours, which would throw
 * again on every redelivery: the message is rejected without requeue instead (RabbitMQ dead-letters
 * it through the queue's own dead-letter exchange), so it can never loop. On a closed channel it
 * stays unacked, and RabbitMQ delivers it again.
 */
export const rejectOnOpenChannel = (
  { channel, isOpen }: Pick<BrokerChannels, "channel" | "isOpen">,
  message: ConsumeMessage,
  thrown: unknown
): Settled => {
  const reason = reasonOf(thrown)
  if (!isOpen()) return { _tag: "LeftUnacked", reason }
  try {
    channel.nack(message, false, false)
    return { _tag: "Rejected", reason }
  } catch (error) {
    return { _tag: "LeftUnacked", reason: reasonOf(error) }
  }
}

/** RabbitMQ's direct reply-to: delivered straight to the caller's channel, never stored in a queue. */
const isDirectReplyTo = (replyTo: string) => replyTo.startsWith("amq.rabbitmq.reply-to")

/**
 * Settles one message, in the one order: dead letter (confirmed) first, then the reply, then the
 * ack; `done` is called exactly once, with how it ended. The reply body is encoded before anything
 * is sent: a reply that cannot be encoded becomes a defect (`internal`) and is settled as one.
 *
 * A reply to direct reply-to is not confirmed: it is never stored, so a confirm would promise
 * nothing, and it goes out on the channel the ack follows on, which RabbitMQ handles in order. A
 * reply to a real queue is stored: published persistent and confirmed, when the request was.
 * Written with callbacks, not Effects: on the common path (nothing to confirm) a message is
 * settled in the call that receives its outcome, which was a measurable share of the node's CPU
 * per request (BENCHMARKS.md).
 */
export const makeSettler = (options: {
  readonly brokerType: string
  readonly deadLetterExchange: string
  /** Headers every reply carries (a worker process's `x-beds-worker`); none on a node of one process. */
  readonly replyHeaders?: Readonly<Record<string, string>>
}) => {
  const fixed = options.replyHeaders
  /** The reply's trace context: its own span's when the node traces, else the request's traceparent echoed. */
  const headersOf = (ingress: Accepted | Refused, traceHeaders: Record<string, string> | undefined) => {
    const trace = traceHeaders ?? (ingress.traceparent === undefined ? undefined : { traceparent: ingress.traceparent })
    return fixed === undefined ? trace : trace === undefined ? fixed : { ...fixed, ...trace }
  }
  const replyOptions = (ingress: Accepted | Refused, traceHeaders: Record<string, string> | undefined): Options.Publish => {
    const headers = headersOf(ingress, traceHeaders)
    return {
      contentType: "application/json",
      ...(ingress.correlationId === undefined ? {} : { correlationId: ingress.correlationId }),
      ...(headers === undefined ? {} : { headers })
    }
  }
  const lineageOf = (ingress: Accepted | Refused) => (ingress._tag === "Accepted" ? ingress.request.lineage : ingress.lineage)

  /** The settlement and its encoded reply; an outcome whose reply cannot be encoded becomes a defect. */
  const prepare = (ingress: Accepted | Refused, outcome: Outcome) => {
    const settlement = settlementOf(outcome, lineageOf(ingress))
    try {
      return { outcome, settlement, body: Buffer.from(JSON.stringify(settlement.reply)) }
    } catch (thrown) {
      const defect: Outcome = {
        _tag: "Defect",
        reference: lineageOf(ingress)?.eventId ?? "unreadable",
        cause: Cause.die(new Error(`the reply could not be encoded as JSON: ${reasonOf(thrown)}`, { cause: thrown }))
      }
      const settlement = settlementOf(defect, lineageOf(ingress))
      return { outcome: defect, settlement, body: Buffer.from(JSON.stringify(settlement.reply)) }
    }
  }

  return (
    { channel, confirms, isOpen }: BrokerChannels,
    message: ConsumeMessage,
    ingress: Accepted | Refused,
    outcome: Outcome,
    traceHeaders: Record<string, string> | undefined,
    done: (settled: Settled, outcome: Outcome) => void
  ): void => {
    const prepared = prepare(ingress, outcome)
    const { settlement, body } = prepared
    let ended = false
    const end = (settled: Settled) => {
      if (ended) return
      ended = true
      done(settled, prepared.outcome)
    }
    const giveUp = (thrown: unknown) => end(rejectOnOpenChannel({ channel, isOpen }, message, thrown))

    const ack = () => {
      try {
        channel.ack(message)
      } catch (thrown) {
        return giveUp(thrown)
      }
      end({ _tag: "Acked", settlement })
    }
    const confirmed = (next: () => void) => (error: unknown) =>
      error ? end({ _tag: "LeftUnacked", reason: `not confirmed by RabbitMQ: ${reasonOf(error)}` }) : next()
    const replyThenAck = () => {
      const replyTo = ingress.replyTo
      if (replyTo === undefined) return ack()
      const confirm = !isDirectReplyTo(replyTo) && (ingress._tag === "Refused" || ingress.persistent)
      try {
        if (confirm) confirms.publish("", replyTo, body, { ...replyOptions(ingress, traceHeaders), persistent: true }, confirmed(ack))
        else channel.publish("", replyTo, body, replyOptions(ingress, traceHeaders))
      } catch (thrown) {
        return giveUp(thrown)
      }
      if (!confirm) ack()
    }

    const deadLetter = settlement.deadLetter
    if (deadLetter === undefined) return replyThenAck()
    try {
      confirms.publish(options.deadLetterExchange, message.fields.routingKey, message.content, {
        ...message.properties,
        persistent: true,
        headers: {
          ...message.properties.headers,
          "x-beds-code": deadLetter.code,
          "x-beds-reason": deadLetter.reason,
          "x-beds-broker": options.brokerType,
          // When it was dead-lettered (ms since the epoch): `beds dlq list` shows each one's age.
          "x-beds-time": Date.now()
        }
      }, confirmed(replyThenAck))
    } catch (thrown) {
      giveUp(thrown)
    }
  }
}
