import type { ConfirmChannel } from "amqplib"
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import { ROOT_CONTEXT, trace } from "@opentelemetry/api"
import { Duration, Effect, Redacted, Scope, Tracer } from "effect"
import { Trust } from "../config/trust.js"
import { Unavailable } from "../protocol/errors.js"
import { LOGS_EXCHANGE } from "../protocol/routing.js"
import { eventSigned, signatureHeaders } from "../protocol/signature.js"
import { headersOfContext } from "../telemetry/tracing.js"
import { openConfirmChannel, publishConfirmed } from "./channel.js"
import { AmqpConnection } from "./connection.js"

/** How long a publish waits for a connection before it reports the broker unavailable. */
const CONNECTION_WAIT = Duration.seconds(5)

/**
 * Publishes events (audit, journal, cache invalidation) to beds.logs, confirmed by RabbitMQ, signed
 * with the node's key (trust.node_key) when it has one: nodes apply only signed events. Also
 * tickets' completion notices, to the queue a ticket names.
 */
export class LogPublisher extends Effect.Service<LogPublisher>()("beds/LogPublisher", {
  scoped: Effect.gen(function*() {
    const amqp = yield* AmqpConnection
    const { trust } = yield* Trust
    const nodeKey = trust.node_key
    const nodeSecret = nodeKey === undefined ? undefined : trust.node_keys[nodeKey]
    const signing = nodeKey === undefined || nodeSecret === undefined
      ? undefined
      : (routingKey: string, content: Buffer) =>
        signatureHeaders(Redacted.value(nodeSecret), eventSigned(nodeKey, Date.now(), LOGS_EXCHANGE, routingKey, content))
    const scope = yield* Effect.scope
    const opening = yield* Effect.makeSemaphore(1)
    // One confirm channel, opened on first use and again after it closes (lost connection).
    let channel: ConfirmChannel | undefined
    const current = opening.withPermits(1)(Effect.suspend(() => {
      if (channel !== undefined) return Effect.succeed(channel)
      return amqp.current.pipe(
        Effect.timeoutFail({ duration: CONNECTION_WAIT, onTimeout: () => new Unavailable({ message: "rabbitmq: no connection" }) }),
        Effect.flatMap((connection) => Scope.extend(openConfirmChannel(connection), scope)),
        Effect.mapError((error) => new Unavailable({ message: `rabbitmq: ${"reason" in error ? error.reason : error.message}` })),
        Effect.tap((opened) =>
          Effect.sync(() => {
            channel = opened
            opened.once("close", () => {
              if (channel === opened) channel = undefined
            })
          }))
      )
    }))
    const send = (routingKey: string, body: unknown, traceHeaders: Record<string, string> | undefined) =>
      Effect.flatMap(current, (open) => {
        const content = Buffer.from(JSON.stringify(body))
        const headers = signing === undefined ? traceHeaders : { ...traceHeaders, ...signing(routingKey, content) }
        return publishConfirmed(open, LOGS_EXCHANGE, routingKey, content, {
          persistent: true,
          contentType: "application/json",
          ...(headers === undefined ? {} : { headers })
        }).pipe(Effect.mapError((error) => new Unavailable({ message: `rabbitmq: ${error.reason}` })))
      })
    return {
      /**
       * Publishes one message straight to a queue (the default exchange), persistent and confirmed:
       * a ticket's completion notice. A queue that does not exist drops it (RabbitMQ's rule).
       */
      toQueue: (queue: string, body: unknown, properties: { readonly correlationId: string; readonly headers: Record<string, string> }) =>
        Effect.flatMap(current, (open) =>
          publishConfirmed(open, "", queue, Buffer.from(JSON.stringify(body)), {
            persistent: true,
            contentType: "application/json",
            correlationId: properties.correlationId,
            messageId: properties.correlationId,
            headers: properties.headers
          }).pipe(Effect.mapError((error) => new Unavailable({ message: `rabbitmq: ${error.reason}` })))),
      /**
       * Publishes one event. Inside a traced request it is a producer span under the request's
       * (the event's headers carry its W3C context, so whoever consumes it continues the trace).
       */
      publish: (routingKey: string, body: unknown): Effect.Effect<void, Unavailable> =>
        Effect.flatMap(Effect.serviceOption(Tracer.ParentSpan), (parent) =>
          parent._tag === "None" || !parent.value.sampled
            // No sampled request around it: no span, no trace context.
            ? send(routingKey, body, undefined)
            : Effect.withSpan(
            Effect.flatMap(Effect.option(OtelTracer.currentOtelSpan), (span) =>
              send(routingKey, body, span._tag === "Some" ? headersOfContext(trace.setSpan(ROOT_CONTEXT, span.value)) : undefined)),
            `publish ${routingKey}`,
            {
              kind: "producer",
              captureStackTrace: false,
              attributes: {
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "send",
                "messaging.destination.name": LOGS_EXCHANGE,
                "messaging.rabbitmq.destination.routing_key": routingKey
              }
            }
          ))
    }
  })
}) {}
