import { NodeContext } from "@effect/platform-node"
import { Effect, Layer, Redacted } from "effect"
import path from "node:path"
import { Adapters } from "../../src/adapters/adapters.js"
import { makeMariaDbCore } from "../../src/adapters/mariadb/core.js"
import { FactoryLive } from "../../src/core/factory.js"
import { ReadCache } from "../../src/core/read-cache.js"
import { LogPublisher } from "../../src/transport/publisher.js"
import { applyMariaDbSchema } from "../../src/schema/mariadb.js"
import { loadTemplates } from "../../src/templates/load.js"
import { TemplateRegistryLive } from "../../src/templates/registry.js"
import { repoRoot } from "./node-process.js"
import type { TestServices } from "./services.js"

export const mariaDbEndpoint = (services: TestServices) => ({
  ...services.mariadb,
  password: Redacted.make(services.mariadb.password)
})

/** The shipped templates and, for MariaDB, their schema applied to this run's database. */
export const shippedTemplates = Effect.gen(function*() {
  const loaded = yield* loadTemplates(path.join(repoRoot, "templates"))
  return loaded.map((entry) => entry.template)
}).pipe(Effect.provide(NodeContext.layer))

export const applyShippedMariaDbSchema = (services: TestServices) =>
  applyMariaDbSchema(mariaDbEndpoint(services), [path.join(repoRoot, "schema", "beds", "mariadb"), path.join(repoRoot, "schema", "mariadb")]).pipe(
    Effect.provide(NodeContext.layer)
  )

/** The node's real dispatch (factory) over the shipped templates and this run's MariaDB. */
export const factoryLayer = (services: TestServices) =>
  FactoryLive({ node: "testnode", env: "dev" }, { idempotencyRetentionS: 3600, tracing: false }).pipe(
    Layer.provide(Layer.merge(LogPublisher.Default, ReadCache.Default)),
    Layer.provide(Layer.unwrapEffect(Effect.map(shippedTemplates, TemplateRegistryLive))),
    Layer.provide(Layer.scoped(Adapters, Effect.map(
      makeMariaDbCore({ master: mariaDbEndpoint(services), secondary: undefined, maxConnections: 8, connectTimeoutMs: 5_000 }),
      (mariadb) => ({ mariadb })
    )))
  )
