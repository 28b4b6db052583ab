import * as Metrics from "@effect/opentelemetry/Metrics"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as Resource from "@effect/opentelemetry/Resource"
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import { AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler } from "@opentelemetry/sdk-trace-base"
import { Context, Effect, Layer } from "effect"
import type { BedsConfig } from "../config/schema.js"
import { Tracing, TracingOff } from "../telemetry/tracing.js"

/** The node's metrics in the Prometheus text format, read from the OpenTelemetry metrics SDK. */
export class PrometheusMetrics extends Context.Tag("beds/PrometheusMetrics")<PrometheusMetrics, {
  readonly text: Effect.Effect<string>
}>() {}

/**
 * The node's OpenTelemetry: a resource naming it (service beds, its node id, env and role), the
 * Effect metrics exported through the OpenTelemetry metrics SDK to a Prometheus reader (served at
 * /metrics by roles/http.ts: the exporter's own serializer, no hand-written text), and, when
 * tracing is on, Effect's tracer backed by the SDK (parent-based sampling at `sample_ratio`, spans
 * batched to the OTLP/HTTP endpoint) and the same tracer for the message path's callbacks.
 */
export const TelemetryLive = (config: BedsConfig, worker?: number) => {
  const resource = Resource.layer({
    serviceName: "beds",
    attributes: {
      // A worker process of a multi-process node is an instance of its own: `{node id}/{worker}`.
      "service.instance.id": worker === undefined ? config.node.id : `${config.node.id}/${worker}`,
      "deployment.environment.name": config.env,
      "beds.role": config.node.role
    }
  })
  const tracing = config.tracing.enabled
    ? Layer.effect(Tracing, Effect.map(OtelTracer.OtelTracer, (tracer) => ({ tracer, sampleRatio: config.tracing.sample_ratio }))).pipe(
      Layer.provideMerge(OtelTracer.layer),
      Layer.provide(NodeSdk.layerTracerProvider(new BatchSpanProcessor(new OTLPTraceExporter({ url: config.tracing.endpoint })), {
        // A message is sampled (at sample_ratio, or as its traceparent says) before a span is made
        // (telemetry/tracing.ts isSampled): the spans that reach the SDK are those chosen, and what
        // nests in them follows. The few spans with no request above them (boot, the sweep) are kept.
        sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() })
      }))
    )
    : TracingOff
  const metrics = Layer.suspend(() => {
    // The reader is pulled by /metrics; it starts no server of its own.
    const reader = new PrometheusExporter({ preventServerStart: true })
    const serializer = new PrometheusSerializer()
    return Layer.merge(
      Metrics.layer(() => reader),
      Layer.succeed(PrometheusMetrics, {
        text: Effect.promise(() => reader.collect()).pipe(Effect.map(({ resourceMetrics }) => serializer.serialize(resourceMetrics)))
      })
    )
  })
  return Layer.mergeAll(tracing, metrics).pipe(Layer.provide(resource))
}
