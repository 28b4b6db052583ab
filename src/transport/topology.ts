import type { Channel } from "amqplib"
import { Effect } from "effect"
import { EVENTS_EXCHANGE, LOGS_EXCHANGE, routeBinding } from "../protocol/routing.js"
import { channelCall } from "./channel.js"

export interface ExchangeDeclaration {
  readonly name: string
  readonly type: "topic" | "direct" | "fanout"
  readonly durable: boolean
}

export const exchanges: ReadonlyArray<ExchangeDeclaration> = [
  { name: EVENTS_EXCHANGE, type: "topic", durable: true },
  { name: LOGS_EXCHANGE, type: "topic", durable: true }
]

/** The queues of one broker type: its work queue, and where its dead letters go. */
export const brokerQueues = (brokerType: string) => ({
  queue: `beds.${brokerType}`,
  deadLetterExchange: `beds.${brokerType}.dlx`,
  deadLetterQueue: `beds.${brokerType}.dlq`
})

/**
 * Declares (idempotently) the exchanges, a broker type's durable queue bound to its routes, and its
 * dead-letter exchange and queue. Run by every broker instance before it consumes, so the topology
 * is back even after RabbitMQ lost its state.
 */
export const declareBrokerTopology = (
  channel: Channel,
  brokerType: string,
  options: { readonly routes: ReadonlyArray<string>; readonly queueType: "classic" | "quorum" }
) =>
  Effect.gen(function*() {
    const names = brokerQueues(brokerType)
    for (const exchange of exchanges) {
      yield* channelCall(() => channel.assertExchange(exchange.name, exchange.type, { durable: exchange.durable }))
    }
    yield* channelCall(() => channel.assertExchange(names.deadLetterExchange, "fanout", { durable: true }))
    yield* channelCall(() => channel.assertQueue(names.deadLetterQueue, { durable: true, arguments: { "x-queue-type": options.queueType } }))
    yield* channelCall(() => channel.bindQueue(names.deadLetterQueue, names.deadLetterExchange, ""))
    yield* channelCall(() =>
      channel.assertQueue(names.queue, {
        durable: true,
        // Messages RabbitMQ itself rejects (e.g. a nack without requeue) land in the dead-letter queue too.
        arguments: { "x-queue-type": options.queueType, "x-dead-letter-exchange": names.deadLetterExchange }
      })
    )
    for (const route of options.routes) {
      yield* channelCall(() => channel.bindQueue(names.queue, EVENTS_EXCHANGE, routeBinding(route)))
    }
  })
