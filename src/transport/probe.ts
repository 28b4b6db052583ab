import { Effect } from "effect"
import { reasonOf, ServiceUnavailable } from "../kernel/errors.js"
import { openConnection, rabbitMqTarget, type RabbitMqConfig } from "./connect.js"
import { exchanges } from "./topology.js"

/** Reachable, authenticated (the AMQP handshake), and the exchanges declared. */
export const probeRabbitMq = (config: RabbitMqConfig, options: { readonly name: string; readonly timeoutMs: number }) =>
  Effect.scoped(Effect.gen(function*() {
    const connection = yield* openConnection(config, options)
    const failed = (cause: unknown) => new ServiceUnavailable({ target: rabbitMqTarget(config), reason: reasonOf(cause) })
    const channel = yield* Effect.tryPromise({ try: () => connection.createChannel(), catch: failed })
    channel.on("error", () => undefined)
    for (const exchange of exchanges) {
      yield* Effect.tryPromise({
        try: () => channel.assertExchange(exchange.name, exchange.type, { durable: exchange.durable }),
        catch: failed
      })
    }
  }))
