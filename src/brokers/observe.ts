import * as OtelTracer from "@effect/opentelemetry/Tracer"
import type { Tracer } from "@opentelemetry/api"
import type { ConsumeMessage } from "amqplib"
import { Effect } from "effect"
import { performance } from "node:perf_hooks"
import {
  inFlightOf,
  recordDeadLetter,
  recordDeadlineMiss,
  recordMessageAge,
  recordRedelivery,
  recordRequest
} from "../telemetry/metrics.js"
import { contextOfHeaders, endSpan, headersOfContext, SpanKind, startSpan, isSampled, type Traced } from "../telemetry/tracing.js"
import { SENT_AT_HEADER } from "../protocol/routing.js"
import type { Accepted, Refused } from "./ingress.js"
import type { Operation } from "./operation.js"
import type { Outcome } from "./policy.js"
import type { Settled } from "./reply.js"


/** One delivery as observed: when it came, and its consumer span when traced. */
export interface Observation {
  readonly startedAt: number
  readonly consumed: Traced | undefined
  reply: Traced | undefined
}

const codeOf = (outcome: Outcome): string => {
  switch (outcome._tag) {
    case "Succeeded":
      return ""
    case "Failed":
      return outcome.code
    case "Refused":
      return outcome.code
    case "Defect":
      return "internal"
  }
}

const requestOf = (ingress: Accepted | Refused) =>
  ingress._tag === "Accepted" ? { template: ingress.request.template, op: ingress.request.op } : { template: "", op: "" }

/**
 * The metrics and traces of a broker's deliveries (telemetry/). Metrics are plain updates of
 * metrics made once per label set. Traces: each delivery gets a consumer span continuing the W3C
 * context of its headers, its operation runs as a `dispatch` span under it (so the adapter's
 * spans and the events it publishes nest there), and its reply gets a producer span whose context
 * the reply carries. With tracing off (no tracer) no span object is made.
 */
export const makeObserver = (options: {
  readonly pool: string
  readonly queue: string
  readonly tracer: Tracer | undefined
  /** Messages traced when their sender did not decide. */
  readonly sampleRatio: number
}) => {
  const { pool, sampleRatio, tracer } = options
  const inFlight = inFlightOf(pool)

  const begin = (message: ConsumeMessage): Observation => {
    inFlight(1)
    if (message.fields.redelivered) recordRedelivery(pool)
    const headers = message.properties.headers
    const sentAt = headers?.[SENT_AT_HEADER]
    if (typeof sentAt === "number") {
      const age = Date.now() - sentAt
      if (age >= 0) recordMessageAge(pool, age / 1000)
    }
    const consumed = tracer === undefined || !isSampled(headers, sampleRatio) ? undefined : startSpan(tracer, `process ${message.fields.routingKey}`, SpanKind.CONSUMER, {
      "messaging.system": "rabbitmq",
      "messaging.operation.type": "process",
      "messaging.destination.name": message.fields.exchange,
      "messaging.rabbitmq.destination.routing_key": message.fields.routingKey,
      "messaging.consumer.group.name": options.queue,
      "messaging.message.body.size": message.content.length,
      ...(typeof message.properties.messageId === "string" ? { "messaging.message.id": message.properties.messageId } : {}),
      ...(typeof message.properties.correlationId === "string" ? { "messaging.message.conversation_id": message.properties.correlationId } : {})
    }, contextOfHeaders(headers))
    return { startedAt: performance.now(), consumed, reply: undefined }
  }

  const dispatchName = (ingress: Accepted) => `dispatch ${ingress.request.template}.${ingress.request.op}`
  const dispatchAttributes = (ingress: Accepted) => ({
    "beds.template": ingress.request.template,
    "beds.operation": ingress.request.op,
    "beds.event_id": ingress.request.lineage.eventId
  })

  /**
   * The operation as a child of the delivery's consumer span: a `dispatch` span when sampled; when
   * not, no span at all.
   */
  const around = (observation: Observation, ingress: Accepted, operation: Operation): Operation => {
    const consumed = observation.consumed
    if (consumed === undefined) return operation
    // Unsampled: the operation runs as it would untraced. (Handing it the unsampled context, even
    // as a plain service, cost about 8 µs per request; its events then carry no trace context.)
    if (!consumed.span.isRecording()) return operation
    const spanContext = consumed.span.spanContext()
    return Effect.withSpan(operation, dispatchName(ingress), {
      kind: "internal",
      attributes: dispatchAttributes(ingress),
      captureStackTrace: false,
      parent: OtelTracer.makeExternalSpan({ traceId: spanContext.traceId, spanId: spanContext.spanId, traceFlags: spanContext.traceFlags })
    })
  }

  /** The trace headers of the reply: its producer span's, when traced. */
  const replyHeaders = (observation: Observation, ingress: Accepted | Refused): Record<string, string> | undefined => {
    const consumed = observation.consumed
    if (consumed === undefined || tracer === undefined || ingress.replyTo === undefined) return undefined
    // Unsampled: no reply span; the reply carries the request's (unsampled) context on.
    if (!consumed.span.isRecording()) return headersOfContext(consumed.context)
    observation.reply = startSpan(tracer, "publish reply", SpanKind.PRODUCER, {
      "messaging.system": "rabbitmq",
      "messaging.operation.type": "send",
      "messaging.destination.name": ingress.replyTo.startsWith("amq.rabbitmq.reply-to") ? "amq.rabbitmq.reply-to" : ingress.replyTo,
      ...(ingress.correlationId === undefined ? {} : { "messaging.message.conversation_id": ingress.correlationId })
    }, consumed.context)
    return headersOfContext(observation.reply.context)
  }

  /** A delivery settled (or left): its metrics, and its spans ended. */
  const end = (observation: Observation, ingress: Accepted | Refused, outcome: Outcome, settled: Settled, settledNow: boolean) => {
    inFlight(-1)
    const code = codeOf(outcome)
    const { template, op } = requestOf(ingress)
    recordRequest(pool, template, op, code, (performance.now() - observation.startedAt) / 1000)
    if (code === "deadline_exceeded") recordDeadlineMiss(pool, template)
    if (settled._tag === "Acked" && settled.settlement.deadLetter !== undefined) recordDeadLetter(pool, settled.settlement.deadLetter.code)
    const consumed = observation.consumed
    if (consumed === undefined) return
    // Settled without a fiber: its dispatch span is the moment the outcome was known.
    if (settledNow && ingress._tag === "Accepted" && consumed.span.isRecording() && tracer !== undefined) {
      const dispatched = startSpan(tracer, dispatchName(ingress), SpanKind.INTERNAL, dispatchAttributes(ingress), consumed.context)
      endSpan(dispatched.span, code === "" ? undefined : code)
    }
    if (observation.reply !== undefined) endSpan(observation.reply.span, settled._tag === "Acked" ? undefined : settled._tag)
    endSpan(consumed.span, code === "" ? undefined : code)
  }

  return { begin, around, replyHeaders, end }
}

export type Observer = ReturnType<typeof makeObserver>
