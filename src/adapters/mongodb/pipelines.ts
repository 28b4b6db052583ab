import { FileSystem, Path } from "@effect/platform"
import { Effect, Schema } from "effect"
import { Identifier } from "../../protocol/envelope.js"

/**
 * A DBA's named aggregation pipeline, kept in schema/mongodb/pipelines/<name>.json. Request values
 * enter only through slots written `{"$param": "<field>"}`; they are bound after Schema decoding,
 * when every value is a scalar (string, number, boolean), so a value can never be an operator. In
 * an aggregation expression (as opposed to a $match query), wrap a slot in $literal so that a
 * string such as "$where" stays a string: `{"$literal": {"$param": "name"}}`.
 */
export interface NamedPipeline {
  readonly name: string
  readonly collection: string
  readonly pipeline: ReadonlyArray<unknown>
}

const PipelineFile = Schema.parseJson(Schema.Struct({
  collection: Identifier,
  pipeline: Schema.Array(Schema.Record({ key: Schema.String, value: Schema.Unknown })).pipe(Schema.minItems(1))
}))

export class PipelineError extends Schema.TaggedError<PipelineError>()("PipelineError", { message: Schema.String }) {}

const isSlot = (value: unknown): value is { $param: string } =>
  typeof value === "object" && value !== null && !Array.isArray(value) &&
  Object.keys(value).length === 1 && typeof (value as { $param?: unknown }).$param === "string"

/** The pipeline with each slot replaced by its bound value; a slot with no value binds null. */
export const bindPipeline = (pipeline: NamedPipeline, values: Readonly<Record<string, unknown>>): Array<Record<string, unknown>> => {
  const bind = (node: unknown): unknown => {
    if (isSlot(node)) return values[node.$param] ?? null
    if (Array.isArray(node)) return node.map(bind)
    if (typeof node === "object" && node !== null) return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, bind(v)]))
    return node
  }
  return pipeline.pipeline.map(bind) as Array<Record<string, unknown>>
}

/** Every `*.json` in the directory (absent directory: none), decoded. */
export const loadPipelines = (directory: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const pipelines = new Map<string, NamedPipeline>()
    if (!(yield* fs.exists(directory).pipe(Effect.orElseSucceed(() => false)))) return pipelines
    const names = yield* fs.readDirectory(directory).pipe(Effect.mapError((e) => new PipelineError({ message: `${directory}: ${e.message}` })))
    for (const name of names.filter((n) => n.endsWith(".json")).sort()) {
      const file = path.join(directory, name)
      const text = yield* fs.readFileString(file).pipe(Effect.mapError((e) => new PipelineError({ message: `${file}: ${e.message}` })))
      const decoded = yield* Schema.decodeUnknown(PipelineFile)(text).pipe(
        Effect.mapError((e) => new PipelineError({ message: `${file}: ${e.message.split("\n")[0]}` }))
      )
      pipelines.set(name.slice(0, -".json".length), { name: name.slice(0, -".json".length), ...decoded })
    }
    return pipelines
  })
