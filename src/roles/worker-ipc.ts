import { Schema } from "effect"

// What a multi-process node's primary and its worker processes say to each other over the
// child_process IPC channel (JSON). Both ends decode what they receive: a message that does not
// decode is logged and dropped, never acted on.

/** A worker's readiness, as its own /health/ready would give it. */
export const WorkerReadiness = Schema.Struct({
  ready: Schema.Boolean,
  off: Schema.Array(Schema.String),
  connected: Schema.Boolean,
  pools: Schema.Array(Schema.Struct({ type: Schema.String, instances: Schema.Number, consuming: Schema.Number }))
})
export type WorkerReadiness = typeof WorkerReadiness.Type

/** Primary to worker: a question (answered with the same id), or: stop consuming, drain and exit 0. */
export const ToWorker = Schema.Union(
  Schema.TaggedStruct("Query", { id: Schema.Number, what: Schema.Literal("readiness", "metrics") }),
  Schema.TaggedStruct("Drain", {})
)
export type ToWorker = typeof ToWorker.Type

/** Worker to primary: it serves (every pool consuming), or an answer to a Query. */
export const FromWorker = Schema.Union(
  Schema.TaggedStruct("Serving", {}),
  Schema.TaggedStruct("Readiness", { id: Schema.Number, readiness: WorkerReadiness }),
  Schema.TaggedStruct("Metrics", { id: Schema.Number, text: Schema.String })
)
export type FromWorker = typeof FromWorker.Type

export const decodeToWorker = Schema.decodeUnknownEither(ToWorker)
export const decodeFromWorker = Schema.decodeUnknownEither(FromWorker)
