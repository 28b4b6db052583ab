import amqp from "amqplib"
import { Effect, Redacted } from "effect"
import type { RabbitMqConfig } from "../../src/transport/connect.js"
import { addVhost, uniqueName } from "../../scripts/local-services.mjs"
import { closeConnectionsNamed as closeNamed, queueTypes } from "../../scripts/rabbit-admin.mjs"

/** A vhost of this test's own (queues and bindings cannot leak between tests), deleted at scope end. */
export const scopedVhost = Effect.acquireRelease(
  Effect.promise(async () => {
    const name = uniqueName("beds_t")
    return { name, remove: await addVhost(name) }
  }),
  ({ remove }) => Effect.promise(() => remove().catch(() => undefined))
).pipe(Effect.map(({ name }) => name))

export const rabbitConfig = (vhost: string): RabbitMqConfig => ({
  host: "127.0.0.1",
  port: 5672,
  vhost,
  username: "guest",
  password: Redacted.make("guest"),
  heartbeat_s: 10,
  queue_type: "classic",
  reconnect_base_delay_ms: 50,
  reconnect_max_delay_ms: 1_000
})

/** Closes, from the server side, every connection in `vhost` whose connection_name is `name` (rabbitmqctl or the management API). */
export const closeConnectionsNamed = (vhost: string, name: string) => Effect.promise(() => closeNamed(vhost, name))

/** The queues of `vhost`, name -> type. */
export const queueTypesOf = (vhost: string) => Effect.promise(() => queueTypes(vhost))

/** A plain amqplib connection for a test to publish raw messages and read queues. */
export const rawConnection = (vhost: string) =>
  Effect.acquireRelease(
    Effect.promise(() => amqp.connect({ hostname: "127.0.0.1", port: 5672, username: "guest", password: "guest", vhost }, { noDelay: true })),
    (connection) => Effect.promise(() => connection.close().catch(() => undefined))
  )

/** Takes every message now in `queue` (acking them). */
export const drainQueue = (channel: amqp.Channel, queue: string) =>
  Effect.promise(async () => {
    const messages: Array<amqp.GetMessage> = []
    for (;;) {
      const message = await channel.get(queue, { noAck: true })
      if (message === false) return messages
      messages.push(message)
    }
  })
