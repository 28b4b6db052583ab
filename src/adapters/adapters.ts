import { Reactivity } from "@effect/experimental"
import { Effect, Either, Layer } from "effect"
import type { BedsConfig } from "../config/schema.js"
import { Adapters } from "../core/factory.js"
import type { NamasteCoreService } from "../core/namaste-core.js"
import type { AdapterName } from "../templates/schema.js"
import { makeDynamoDbCore } from "./dynamodb/core.js"
import { makeMariaDbCore } from "./mariadb/core.js"
import { makeMongoDbCore } from "./mongodb/core.js"
import { loadPipelines } from "./mongodb/pipelines.js"
import { NodeContext } from "@effect/platform-node"
import path from "node:path"
import { defaultSchemaDirectory } from "../startup.js"

/** The DBA's schema files: config's templates.schema_directory, or schema/ beside the build. */
export const schemaDirectory = (config: BedsConfig) => config.templates.schema_directory ?? defaultSchemaDirectory

/** Builds one adapter from config; its connections close with the scope. */
export const makeAdapter = (config: BedsConfig, name: AdapterName) => {
  switch (name) {
    case "mariadb":
      return makeMariaDbCore({
        master: config.mariadb.master,
        secondary: config.mariadb.secondary,
        maxConnections: 16,
        connectTimeoutMs: config.ipl.step_timeout_ms
      }).pipe(Effect.provide(Reactivity.layer), Effect.mapError((error) => `mariadb: ${error.message}`))
    case "dynamodb":
      return makeDynamoDbCore(config.dynamodb, { timeoutMs: config.ipl.step_timeout_ms })
    case "mongodb":
      return loadPipelines(path.join(schemaDirectory(config), "mongodb", "pipelines")).pipe(
        Effect.flatMap((pipelines) =>
          makeMongoDbCore(config.mongodb, { appName: `beds ${config.node.id}`, timeoutMs: config.ipl.step_timeout_ms, pipelines })),
        Effect.provide(NodeContext.layer),
        Effect.mapError((error) => `mongodb: ${error.message}`)
      )
  }
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
