import { NodeContext } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { randomUUID } from "node:crypto"
import path from "node:path"
import { Adapters } from "../../src/adapters/adapters.js"
import type { NamasteCoreService } from "../../src/adapters/port.js"
import { FactoryLive } from "../../src/core/factory.js"
import { ReadCache } from "../../src/core/read-cache.js"
import type { Request } from "../../src/protocol/envelope.js"
import { loadTemplates } from "../../src/templates/load.js"
import type { Template } from "../../src/templates/schema.js"
import { TemplateRegistryLive } from "../../src/templates/registry.js"
import { LogPublisher } from "../../src/transport/publisher.js"
import { makeMemoryCore, type MemoryCalls } from "./memory-core.js"
import { repoRoot } from "./node-process.js"

/** The contract fixture templates (test/fixtures/templates), decoded as the node decodes them. */
export const fixtureTemplates = loadTemplates(path.join(repoRoot, "test", "fixtures", "templates")).pipe(
  Effect.map((loaded) => loaded.map((entry) => entry.template)),
  Effect.provide(NodeContext.layer),
  Effect.orDie
)

/** A root request to the contract_rel fixture template, as a unit test hands it to the factory. */
export const unitRequest = (op: string, fields: Partial<Request> = {}): Request => ({
  version: 1,
  template: "contract_rel",
  op,
  lineage: { eventId: `unit.dev.${randomUUID()}`, parentId: "", depth: 0 },
  ...fields
})

/** What the factory published on beds.logs, in order. */
export type Published = Array<{ readonly routingKey: string; readonly body: unknown }>

/**
 * The node's real factory (registry, capabilities, read cache) over the in-memory NamasteCore, with
 * no database and no RabbitMQ: events are collected in `published`. `adapters: false` gives a node
 * whose adapter is missing.
 */
export const memoryFactoryLayer = (
  templates: ReadonlyArray<Template>,
  options: { readonly calls?: MemoryCalls; readonly published?: Published; readonly adapters?: boolean } = {}
) =>
  FactoryLive({ node: "unit", env: "dev" }, { idempotencyRetentionS: 3600, tracing: false }).pipe(
    Layer.provide(Layer.mergeAll(
      TemplateRegistryLive(templates),
      ReadCache.Default,
      Layer.succeed(LogPublisher, LogPublisher.make({
        publish: (routingKey, body) => Effect.sync(() => void options.published?.push({ routingKey, body })),
        toQueue: (queue, body) => Effect.sync(() => void options.published?.push({ routingKey: queue, body }))
      })),
      Layer.effect(
        Adapters,
        options.adapters === false
          ? Effect.succeed({})
          : Effect.map(makeMemoryCore(options.calls), (core: NamasteCoreService) => ({ mariadb: core, mongodb: core, dynamodb: core }))
      )
    ))
  )
