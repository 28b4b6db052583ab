import amqp from "amqplib"
import { Effect, Redacted } from "effect"
import type { BedsConfig } from "../config/schema.js"
import { reasonOf, ServiceUnavailable } from "../core/errors.js"

export type RabbitMqConfig = BedsConfig["rabbitmq"]

/** host:port/vhost, as operators name a RabbitMQ endpoint; never the credentials. */
export const rabbitMqTarget = (config: RabbitMqConfig): string =>
  `${config.host}:${config.port} vhost ${config.vhost}`

/**
 * Opens an AMQP connection, closed when the scope ends. `noDelay` turns Nagle's algorithm off:
 * with it on, small request/reply frames wait for ACKs and ~1 ms round trips become ~45 ms.
 */
export const openConnection = (config: RabbitMqConfig, options: { readonly name: string; readonly timeoutMs: number }) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        amqp.connect(
          {
            protocol: "amqp",
            hostname: config.host,
            port: config.port,
            vhost: config.vhost,
            username: config.username,
            password: Redacted.value(config.password),
            heartbeat: config.heartbeat_s
          },
          { noDelay: true, timeout: options.timeoutMs, clientProperties: { connection_name: options.name } }
        ),
      catch: (cause) => new ServiceUnavailable({ target: rabbitMqTarget(config), reason: reasonOf(cause) })
    }).pipe(
      // amqplib emits 'error' on the connection (e.g. a server-side close); unhandled, it kills the process.
      Effect.tap((connection) => Effect.sync(() => connection.on("error", () => undefined)))
    ),
    (connection) => Effect.promise(() => connection.close().catch(() => undefined))
  )
