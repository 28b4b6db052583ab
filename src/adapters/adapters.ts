import type { FileSystem, Path } from "@effect/platform"
import { Context, Effect, Layer, Schema } from "effect"
import { join } from "node:path"
import type { BedsConfig } from "../config/schema.js"
import { reasonOf } from "../kernel/errors.js"
import { AdapterName } from "../templates/schema.js"
import { makeDynamoDbCore } from "./dynamodb/core.js"
import { makeMariaDbCore } from "./mariadb/core.js"
import { makeMongoDbCore } from "./mongodb/core.js"
import { loadPipelines } from "./mongodb/pipelines.js"
import { NamasteCore, type NamasteCoreService } from "./port.js"

/** An adapter could not be built: its store is unreachable or refused us (or its files are bad). */
export class AdapterUnavailable extends Schema.TaggedError<AdapterUnavailable>()("AdapterUnavailable", {
  adapter: AdapterName,
  reason: Schema.String
}) {
  override get message() {
    return `${this.adapter}: ${this.reason}`
  }
}

/** The adapters this node has, by name; a template whose adapter is missing answers `unavailable`. */
export class Adapters extends Context.Tag("beds/Adapters")<Adapters, Partial<Record<AdapterName, NamasteCoreService>>>() {}

/** One adapter as a layer of the shared NamasteCore port; its connections close with the layer. */
export const adapterLayer = (
  config: BedsConfig,
  name: AdapterName
): Layer.Layer<NamasteCore, AdapterUnavailable, FileSystem.FileSystem | Path.Path> => {
  const timeoutMs = config.ipl.step_timeout_ms
  switch (name) {
    case "mariadb":
      return Layer.scoped(
        NamasteCore,
        makeMariaDbCore({ master: config.mariadb.master, secondary: config.mariadb.secondary, maxConnections: 16, connectTimeoutMs: timeoutMs })
      ).pipe(Layer.mapError((error) => new AdapterUnavailable({ adapter: name, reason: reasonOf(error.cause) })))
    case "mongodb":
      return Layer.scoped(
        NamasteCore,
        loadPipelines(join(config.templates.schema_directory, "mongodb", "pipelines")).pipe(
          Effect.flatMap((pipelines) => makeMongoDbCore(config.mongodb, { appName: `beds ${config.node.id}`, timeoutMs, pipelines }))
        )
      ).pipe(Layer.mapError((error) => new AdapterUnavailable({ adapter: name, reason: error.message })))
    case "dynamodb":
      // No connection is opened here: the IPL's dynamodb step is what checks the endpoint.
      return Layer.scoped(NamasteCore, makeDynamoDbCore(config.dynamodb, { timeoutMs }))
  }
}

/**
 * Builds each named adapter once, in the caller's scope (the node's): the IPL checks the templates'
 * objects with them and the node serves with the same ones. One that cannot be built is left out,
 * with the reason (its templates are disabled, or fatal in prod).
 */
export const buildAdapters = Effect.fn("Adapters.build")(
  function*(config: BedsConfig, names: ReadonlySet<AdapterName>) {
    const built: Partial<Record<AdapterName, NamasteCoreService>> = {}
    const failed = new Map<AdapterName, AdapterUnavailable>()
    for (const name of names) {
      const context = yield* Effect.either(Layer.build(adapterLayer(config, name)))
      if (context._tag === "Right") built[name] = Context.get(context.right, NamasteCore)
      else failed.set(name, context.left)
    }
    return { adapters: Adapters.of(built), failed } as const
  }
)
