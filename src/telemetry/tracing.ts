import {
  type Attributes,
  type Context as OtelContext,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer
} from "@opentelemetry/api"
import { W3CTraceContextPropagator } from "@opentelemetry/core"
import { Context, Layer } from "effect"
import { TRACEPARENT } from "../kernel/traceparent.js"

/**
 * The OpenTelemetry tracer the callback parts of the message path use (consume, reply, the client's
 * publish), or none: with tracing off nothing is created on the message path at all. The SDK and
 * its exporter are set up by the node (roles/telemetry.ts); Effect code traces through Effect's own
 * tracer, which the same SDK backs.
 */
export class Tracing extends Context.Tag("beds/Tracing")<Tracing, {
  readonly tracer: Tracer | undefined
  /** Messages traced when their sender did not decide (config tracing.sample_ratio). */
  readonly sampleRatio: number
}>() {}

export const TracingOff = Layer.succeed(Tracing, { tracer: undefined, sampleRatio: 0 })

/**
 * Whether a message the node consumes is traced: as its W3C traceparent's sampled flag says, and
 * without one (or with an invalid one) at `sampleRatio`. Decided before OpenTelemetry is asked, so
 * an unsampled message makes no span object at all: a non-recording span, its ids and the reply's
 * headers cost about 6 µs per request, more than the 5% of the node's CPU tracing may cost.
 */
export const isSampled = (headers: Headers | undefined, sampleRatio: number): boolean => {
  const traceparent = headers?.["traceparent"]
  if (typeof traceparent === "string" && TRACEPARENT.test(traceparent)) return (Number.parseInt(traceparent.slice(53, 55), 16) & 1) === 1
  return sampleRatio > 0 && Math.random() < sampleRatio
}

// The one writer of the W3C trace context headers (traceparent, tracestate) on BEDS's messages.
const propagator = new W3CTraceContextPropagator()
type Headers = Record<string, unknown>
const getter = {
  get: (carrier: Headers, key: string) => {
    const value = carrier[key]
    return typeof value === "string" ? value : undefined
  },
  keys: (carrier: Headers) => Object.keys(carrier)
}
const setter = { set: (carrier: Headers, key: string, value: string) => void (carrier[key] = value) }

/** The trace context a message's headers carry (W3C traceparent, tracestate), or the root. */
export const contextOfHeaders = (headers: Headers | undefined): OtelContext =>
  headers === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, headers, getter)

/** The headers that carry `context` to the next hop. */
export const headersOfContext = (context: OtelContext): Record<string, string> => {
  const headers: Record<string, string> = {}
  propagator.inject(context, headers, setter)
  return headers
}

/** A span and the context that has it as the parent of what comes next. */
export interface Traced {
  readonly span: Span
  readonly context: OtelContext
}

export const startSpan = (tracer: Tracer, name: string, kind: SpanKind, attributes: Attributes, parent: OtelContext): Traced => {
  const span = tracer.startSpan(name, { kind, attributes }, parent)
  return { span, context: trace.setSpan(parent, span) }
}

/** Ends a span, marking it failed with `error` (an error code or message) when given. */
export const endSpan = (span: Span, error?: string) => {
  if (error !== undefined) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: error })
    span.setAttribute("error.type", error)
  }
  span.end()
}

export { SpanKind }
