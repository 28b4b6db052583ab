// A complete BEDS request/reply with a plain AMQP client (amqplib), no BEDS code.
// Usage: AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2F node docs/examples/request.mjs
import amqp from "amqplib"
import { randomUUID } from "node:crypto"

const connection = await amqp.connect(process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672/%2F", { noDelay: true })
const channel = await connection.createChannel()

// 1. Listen for replies on the direct reply-to pseudo-queue (no-ack), on the channel that publishes.
const replies = new Map()
await channel.consume("amq.rabbitmq.reply-to", (message) => {
  const resolve = replies.get(message.properties.correlationId)
  if (resolve) resolve(JSON.parse(message.content.toString("utf8")))
}, { noAck: true })

// 2. Build the envelope: template, op, data or query, and a root lineage.
const eventId = `example.dev.${randomUUID()}`
const request = {
  version: 1,
  template: "echo",
  op: "fetch",
  query: { id: 42 },
  lineage: { eventId, parentId: "", depth: 0 }
}

// 3. Publish to beds.events with routing key {route}.{template}.{op}.
const correlationId = randomUUID()
const reply = new Promise((resolve) => replies.set(correlationId, resolve))
channel.publish("beds.events", "read.echo.fetch", Buffer.from(JSON.stringify(request)), {
  correlationId,
  replyTo: "amq.rabbitmq.reply-to",
  messageId: eventId,
  contentType: "application/json",
  mandatory: true
})

// 4. The reply carries the same correlationId.
const timeout = setTimeout(() => { console.error("no reply within 5 s"); process.exit(1) }, 5_000)
console.log(JSON.stringify(await reply))
clearTimeout(timeout)
await connection.close()
