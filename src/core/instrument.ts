import { Effect, Tracer } from "effect"
import { performance } from "node:perf_hooks"
import type { Lineage } from "../protocol/envelope.js"
import { recordDbCall } from "../telemetry/metrics.js"

/**
 * Wraps a database call: its duration, and a client span when it runs inside a traced request.
 * `parent` is the request that caused it: its span carries the call's place in the lineage tree.
 */
export type DbCall = <A, E>(system: string, object: string, operation: string, call: Effect.Effect<A, E>, parent?: Lineage) => Effect.Effect<A, E>

/**
 * Every adapter call the factory makes goes through here: its duration is recorded
 * (`db.client.operation.duration`, by store, object and operation), and with tracing on it is a
 * client span (the store, the object's name; never a bound value) under the request's span, a child
 * of the request in its lineage (`beds.lineage.parent_id`: the request's eventId, `beds.lineage.depth`:
 * its depth + 1). With
 * tracing off this is one `matchCauseEffect` and two clock reads per call (BENCHMARKS.md).
 */
export const makeDbCall = (tracing: boolean): DbCall => (system, object, operation, call, parent) =>
  Effect.suspend(() => {
    const start = performance.now()
    const record = () => recordDbCall(system, object, operation, (performance.now() - start) / 1000)
    const measured = Effect.matchCauseEffect(call, {
      onFailure: (cause) => (record(), Effect.failCause(cause)),
      onSuccess: (value) => (record(), Effect.succeed(value))
    })
    if (!tracing) return measured
    // Only inside a sampled request's trace: a call with no parent span (a sweep, a boot check) or
    // under an unsampled one (most requests, at a low sample ratio) makes no span object at all.
    // No stack trace is captured for the span's source: that alone was most of its cost.
    // serviceOption, not Effect.currentParentSpan: with no parent the latter fails with an
    // exception, and making one (its stack trace) cost about 10 µs per call.
    return Effect.flatMap(Effect.serviceOption(Tracer.ParentSpan), (span) =>
      span._tag === "None" || !span.value.sampled ? measured : Effect.withSpan(measured, `${operation} ${object}`, {
        kind: "client",
        attributes: {
          "db.system.name": system,
          "db.collection.name": object,
          "db.operation.name": operation,
          ...(parent === undefined ? {} : { "beds.lineage.parent_id": parent.eventId, "beds.lineage.depth": Math.min(parent.depth + 1, 64) })
        },
        captureStackTrace: false
      }))
  })
