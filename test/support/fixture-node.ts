import { NodeContext } from "@effect/platform-node"
import { Context, Effect, Layer, Logger, LogLevel } from "effect"
import path from "node:path"
import { buildAdapters } from "../../src/adapters/adapters.js"
import { BedsClient, BedsClientLive } from "../../src/client/client.js"
import { loadConfig } from "../../src/config/load.js"
import type { BedsConfig } from "../../src/config/schema.js"
import { awaitServing, NodeLive } from "../../src/roles/node-layer.js"
import { TracingOff } from "../../src/telemetry/tracing.js"
import { applyDynamoDbSchema } from "../../src/schema/dynamodb.js"
import { applyMariaDbSchema } from "../../src/schema/mariadb.js"
import { applyMongoDbSchema } from "../../src/schema/mongodb.js"
import { loadTemplates } from "../../src/templates/load.js"
import type { Template } from "../../src/templates/schema.js"
import { repoRoot, serviceOverrides, writeConfigDir } from "./node-process.js"
import { rabbitConfig } from "./rabbit.js"
import { testServices } from "./services.js"
import { signing, trustTable } from "./trust.js"

export const fixtures = path.join(repoRoot, "test", "fixtures")

/**
 * The real config of a node on this run's services and `vhost`, with the fixture templates and the
 * adapter's fixture schema applied. It trusts the tests' keys only (no unsigned request), and the
 * client of startFixtureNodes signs with the tests' producer key. `extra` tables replace the file's.
 */
export const fixtureNodeConfig = (vhost: string, nodeId: string, adapter: Template["adapter"], extra: Record<string, unknown> = {}) =>
  Effect.gen(function*() {
    const overrides = serviceOverrides(testServices(), nodeId)
    const directory = yield* Effect.promise(() =>
      writeConfigDir({
        "env_dev.toml": {
          ...overrides,
          rabbitmq: { ...overrides.rabbitmq, vhost },
          templates: { schema_directory: path.join(fixtures, "schema") },
          trust: trustTable,
          ...extra
        }
      }))
    const config = yield* loadConfig({ directory, env: "dev", variables: {} })
    // BEDS's own objects (the idempotency store), then the fixture domain's.
    const directories = (store: string) => [path.join(repoRoot, "schema", "beds", store), path.join(fixtures, "schema", store)]
    if (adapter === "mariadb") yield* applyMariaDbSchema(config.mariadb.master, directories("mariadb"))
    if (adapter === "dynamodb") yield* applyDynamoDbSchema(config.dynamodb, directories("dynamodb"))
    if (adapter === "mongodb") {
      const [, applied] = yield* applyMongoDbSchema(config.mongodb, directories("mongodb"))
      // jongodb has no collMod: the $jsonSchema validator is applied on real MongoDB only. Say so.
      if (applied?.validatorNotApplied !== undefined) yield* Effect.logWarning(`mongodb validator not exercised here: ${applied.validatorNotApplied}`)
    }
    const templates = (yield* loadTemplates(path.join(fixtures, "templates"))).map((entry) => entry.template)
    return { config, templates }
  }).pipe(Effect.provide(NodeContext.layer))

/** One real node per config (NodeLive: pools, factory, adapters, capabilities), each serving, and a client. */
export const startFixtureNodes = (vhost: string, configs: ReadonlyArray<BedsConfig>, templates: ReadonlyArray<Template>) =>
  Effect.gen(function*() {
    for (const config of configs) {
      const { adapters, failed } = yield* buildAdapters(config, new Set(templates.map((t) => t.adapter))).pipe(Effect.provide(NodeContext.layer))
      if (failed.size > 0) return yield* Effect.dieMessage(`adapters unavailable: ${[...failed.values()].map((e) => e.message).join("; ")}`)
      const context = yield* Layer.build(
        NodeLive(config, { templates, adapters }).pipe(Layer.provide(Layer.merge(Logger.minimumLogLevel(LogLevel.Error), TracingOff)))
      )
      yield* awaitServing.pipe(Effect.provide(context), Effect.timeout("15 seconds"))
    }
    const client = Context.get(
      yield* Layer.build(BedsClientLive({ rabbitmq: rabbitConfig(vhost), clientId: "fixture", env: "dev", defaultTimeoutMs: 10_000, signing })),
      BedsClient
    )
    return { client }
  })
