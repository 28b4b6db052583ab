import { NodeContext } from "@effect/platform-node"
import { Context, Effect, Either, Layer } from "effect"
import path from "node:path"
import type { BedsConfig } from "../config/schema.js"
import { reasonOf } from "../core/errors.js"
import { Adapters } from "../core/factory.js"
import { NamasteCore, type NamasteCoreService } from "../core/namaste-core.js"
import type { AdapterName } from "../templates/schema.js"
import { DynamoDbCoreLive, MariaDbCoreLive, MongoDbCoreLive } from "./layers.js"
import { loadPipelines } from "./mongodb/pipelines.js"
import { defaultSchemaDirectory } from "../startup.js"

/** The DBA's schema files: config's templates.schema_directory, or schema/ beside the build. */
export const schemaDirectory = (config: BedsConfig) => config.templates.schema_directory ?? defaultSchemaDirectory

/** Builds one adapter from its layer; its connections close with the calling scope. */
export const makeAdapter = (config: BedsConfig, name: AdapterName) => {
  const layer = (): Layer.Layer<NamasteCore, unknown> => {
    switch (name) {
      case "mariadb":
        return MariaDbCoreLive(config)
      case "dynamodb":
        return DynamoDbCoreLive(config)
      case "mongodb":
        return Layer.unwrapEffect(
          loadPipelines(path.join(schemaDirectory(config), "mongodb", "pipelines")).pipe(
            Effect.map((pipelines) => MongoDbCoreLive(config, pipelines)),
            Effect.provide(NodeContext.layer)
          )
        )
    }
  }
  return Layer.build(layer()).pipe(
    Effect.map((context) => Context.get(context, NamasteCore)),
    Effect.mapError((error) => `${name}: ${reasonOf(error)}`)
  )
}

/**
 * The adapters the given templates use. One that cannot be built (its database is down in dev)
 * is left out and logged: its templates answer `unavailable` while the rest serve.
 */
export const AdaptersLive = (config: BedsConfig, names: ReadonlySet<AdapterName>) =>
  Layer.scoped(
    Adapters,
    Effect.gen(function*() {
      const adapters: Partial<Record<AdapterName, NamasteCoreService>> = {}
      for (const name of names) {
        const built = yield* Effect.either(makeAdapter(config, name))
        if (Either.isRight(built)) adapters[name] = built.right
        else yield* Effect.logError(`adapter ${name} unavailable: ${built.left}`)
      }
      return adapters
    })
  )
