import type { ConsumeMessage } from "amqplib"
import type { BrokerChannels } from "../../src/brokers/reply.js"

// Deliveries and channels for unit tests of the message path (no RabbitMQ).

/** A delivery as amqplib hands it to a consumer, with a reply-to and a correlation id. */
export const delivery = (body: unknown, routingKey = "read.contract_rel.fetch") =>
  ({
    content: Buffer.from(JSON.stringify(body)),
    fields: { routingKey, deliveryTag: 1, redelivered: false, exchange: "beds.events", consumerTag: "c" },
    properties: { correlationId: "c-1", replyTo: "amq.rabbitmq.reply-to.x", contentType: "application/json", headers: {} }
  }) as unknown as ConsumeMessage

/** A broker's channels as the settler sees them, recording what is sent; confirms come back at once. */
export const recordingChannels = () => {
  const sent: Array<string> = []
  const channels: BrokerChannels = {
    channel: {
      publish: (exchange: string, key: string, content: Buffer) => (sent.push(`publish ${exchange}|${key} ${content.toString()}`), true),
      ack: () => void sent.push("ack"),
      nack: () => void sent.push("nack")
    } as unknown as BrokerChannels["channel"],
    confirms: {
      publish: (exchange: string, key: string, _content: Buffer, _options: unknown, confirmed: (error: unknown) => void) => {
        sent.push(`confirmed ${exchange}|${key}`)
        confirmed(null)
        return true
      }
    } as unknown as BrokerChannels["confirms"],
    isOpen: () => true
  }
  return { sent, channels }
}
