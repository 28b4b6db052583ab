import amqp, { type ChannelModel } from "amqplib"
import { Effect, Redacted } from "effect"
import { Socket } from "node:net"
import type { BedsConfig } from "../config/schema.js"
import { reasonOf, ServiceUnavailable } from "../kernel/errors.js"

export type RabbitMqConfig = BedsConfig["rabbitmq"]

/** host:port/vhost, as operators name a RabbitMQ endpoint; never the credentials. */
export const rabbitMqTarget = (config: RabbitMqConfig): string =>
  `${config.host}:${config.port} vhost ${config.vhost}`

/**
 * Coalesces the frames written to the connection's socket in one event-loop tick into one write.
 * amqplib writes every frame (a publish is three: method, header, body; an ack is one) with its
 * own `socket.write`, i.e. its own syscall; under load that was the node's largest single cost and
 * made RabbitMQ read many tiny TCP segments. Corking on the first write of a tick and uncorking on
 * the next tick sends them as one `writev`. Latency is unchanged: the frames leave in the same
 * tick they were written. amqplib has no option for this; its socket is `connection.stream`.
 */
const coalesceWrites = (model: ChannelModel) => {
  const socket = (model.connection as { readonly stream?: unknown }).stream
  if (!(socket instanceof Socket)) return
  const write = socket.write
  let corked = false
  const uncork = () => {
    corked = false
    socket.uncork()
  }
  socket.write = function(this: Socket, ...args: Parameters<Socket["write"]>) {
    if (!corked) {
      corked = true
      socket.cork()
      process.nextTick(uncork)
    }
    return write.apply(this, args)
  } as Socket["write"]
}

/**
 * Opens an AMQP connection, closed when the scope ends. `noDelay` turns Nagle's algorithm off:
 * with it on, small request/reply frames wait for ACKs and ~1 ms round trips become ~45 ms.
 * Frames written in one tick leave as one write (`coalesceWrites`).
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
      Effect.tap((connection) =>
        Effect.sync(() => {
          connection.on("error", () => undefined)
          coalesceWrites(connection)
        })
      )
    ),
    (connection) => Effect.promise(() => connection.close().catch(() => undefined))
  )
