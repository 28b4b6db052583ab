import { Context, Effect, Layer } from "effect"
import type { BedsConfig } from "../config/schema.js"
import { NamasteCore, type NamasteCoreService } from "../core/namaste-core.js"
import { makeDynamoDbCore } from "./dynamodb/core.js"
import { makeMariaDbCore } from "./mariadb/core.js"
import { makeMongoDbCore } from "./mongodb/core.js"
import type { NamedPipeline } from "./mongodb/pipelines.js"

// One tag per adapter, so a node can hold all three at once; each layer also provides the shared
// NamasteCore tag, for code that works with whichever single adapter it is given.
export class MariaDbCore extends Context.Tag("beds/NamasteCore/mariadb")<MariaDbCore, NamasteCoreService>() {}
export class MongoDbCore extends Context.Tag("beds/NamasteCore/mongodb")<MongoDbCore, NamasteCoreService>() {}
export class DynamoDbCore extends Context.Tag("beds/NamasteCore/dynamodb")<DynamoDbCore, NamasteCoreService>() {}

const both = <I>(tag: Context.Tag<I, NamasteCoreService>, service: NamasteCoreService) =>
  Context.make(tag, service).pipe(Context.add(NamasteCore, service))

export const MariaDbCoreLive = (config: BedsConfig) =>
  Layer.scopedContext(
    makeMariaDbCore({
      master: config.mariadb.master,
      secondary: config.mariadb.secondary,
      maxConnections: 16,
      connectTimeoutMs: config.ipl.step_timeout_ms
    }).pipe(Effect.map((core) => both(MariaDbCore, core)))
  )

export const MongoDbCoreLive = (config: BedsConfig, pipelines: ReadonlyMap<string, NamedPipeline>) =>
  Layer.scopedContext(
    makeMongoDbCore(config.mongodb, { appName: `beds ${config.node.id}`, timeoutMs: config.ipl.step_timeout_ms, pipelines }).pipe(
      Effect.map((core) => both(MongoDbCore, core))
    )
  )

export const DynamoDbCoreLive = (config: BedsConfig) =>
  Layer.scopedContext(
    makeDynamoDbCore(config.dynamodb, { timeoutMs: config.ipl.step_timeout_ms }).pipe(Effect.map((core) => both(DynamoDbCore, core)))
  )

