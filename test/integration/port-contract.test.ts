import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { randomBytes } from "node:crypto"
import { adapterLayer } from "../../src/adapters/adapters.js"
import { namedObjects } from "../../src/adapters/objects.js"
import { NamasteCore, type CoreCall } from "../../src/adapters/port.js"
import type { Template } from "../../src/templates/schema.js"
import { makeRegistry } from "../../src/templates/registry.js"
import { fixtureTemplates } from "../support/factory.js"
import { fixtureNodeConfig } from "../support/fixture-node.js"
import { MemoryCoreLive } from "../support/memory-core.js"
import { scopedVhost } from "../support/rabbit.js"

/**
 * The NamasteCore port itself, called as the factory calls it, against every adapter's layer and
 * the in-memory test store: the same calls must mean the same thing everywhere. (The end-to-end
 * suite, contract.test.ts, sends the same domain over RabbitMQ through a real node.)
 */
const stores = [
  { store: "mariadb", template: "contract_rel" },
  { store: "mongodb", template: "contract_rec" },
  { store: "dynamodb", template: "contract_kv" },
  { store: "in-memory", template: "contract_rel" }
] as const

/** The port of `store`, built from its layer, with the fixture schema applied for a real one. */
const portOf = (store: typeof stores[number]["store"], template: Template) =>
  Effect.gen(function*() {
    if (store === "in-memory") {
      return yield* NamasteCore.pipe(Effect.provide(MemoryCoreLive(new Set(namedObjects(template).map((o) => o.object)))))
    }
    const vhost = yield* scopedVhost
    const { config } = yield* fixtureNodeConfig(vhost, `port${store}`, store)
    return yield* Layer.build(adapterLayer(config, store)).pipe(
      Effect.map((context) => Context.get(context, NamasteCore)),
      Effect.provide(NodeContext.layer)
    )
  })

describe.each(stores)("the NamasteCore port: $store", ({ store, template: name }) => {
  it.scopedLive("create, fetch, named read, update with locking, delete, each write once per scope: the same answers on every store", () =>
    Effect.gen(function*() {
      const template = (yield* fixtureTemplates).find((t) => t.name === name)!
      const port = yield* portOf(store, template)
      const operations = makeRegistry([template]).get(name)!.operations
      const call = (op: string, values: Record<string, unknown>): CoreCall => {
        const operation = operations.get(op)!
        return { template, object: operation.object, params: operation.params, values }
      }
      const code = <A, E extends { _tag: string }>(effect: Effect.Effect<A, E>) =>
        effect.pipe(Effect.map(() => "ok"), Effect.catchAll((error) => Effect.succeed(error._tag)))
      const id = `p${randomBytes(8).toString("hex")}`
      const title = `port ${id}`
      const stored = { id, title, count: 3, score: 1.5, flag: true, version: 1 }
      let scopes = 0
      /** A write under a scope of its own (or the given one), as the factory makes it. */
      const write = (kind: "create" | "update" | "delete", values: Record<string, unknown>, scope = `${name}/${id}.${++scopes}`, fingerprint: string = kind) =>
        port.write(call(kind, values), kind, { scope, fingerprint, retentionS: 3600 }, { before: undefined })

      const created = yield* write("create", { id, title, count: 3, score: 1.5, flag: true }, `${name}/${id}.create`)
      expect(created).toStrictEqual({ recorded: { ok: true, data: stored }, replayed: false, before: null })
      // A repeat of the scope: the same outcome, not run again (a second create would be a conflict).
      expect(yield* write("create", { id, title, count: 3, score: 1.5, flag: true }, `${name}/${id}.create`)).toStrictEqual({
        recorded: { ok: true, data: stored },
        replayed: true,
        before: null
      })
      // The same scope for another request: refused, nothing runs.
      expect(yield* code(write("create", { id, title: "other" }, `${name}/${id}.create`, "something else"))).toBe("KeyReused")
      // Another scope: a second create of the key is a recorded conflict.
      expect((yield* write("create", { id, title: "twin" })).recorded).toMatchObject({ ok: false, code: "conflict" })
      expect(yield* port.fetchRecords(call("fetch", { id }))).toStrictEqual([stored])
      expect(yield* port.fetchRecords(call("fetch", { id: `${id}x` }))).toStrictEqual([])
      expect(yield* port.readNamed(call("by_title", { title }))).toStrictEqual([stored])

      expect((yield* write("update", { id, title: "updated", version: 1 })).recorded).toMatchObject({
        ok: true,
        data: { id, title: "updated", count: 3, version: 2 }
      })
      expect((yield* write("update", { id, title: "stale", version: 1 })).recorded).toMatchObject({ ok: false, code: "conflict" })
      expect((yield* write("update", { id: `${id}x`, title: "none", version: 1 })).recorded).toMatchObject({ ok: false, code: "not_found" })

      expect((yield* write("delete", { id, version: 1 })).recorded).toMatchObject({ ok: false, code: "conflict" })
      expect(yield* write("delete", { id, version: 2 }, `${name}/${id}.delete`)).toStrictEqual({ recorded: { ok: true, data: { id } }, replayed: false, before: null })
      expect((yield* write("delete", { id, version: 2 }, `${name}/${id}.delete`)).replayed).toBe(true)
      expect((yield* write("delete", { id })).recorded).toMatchObject({ ok: false, code: "not_found" })
      expect(yield* port.fetchRecords(call("fetch", { id }))).toStrictEqual([])

      for (const { object, kind } of namedObjects(template)) expect(yield* port.objectExists(template, object, kind)).toBe(true)
      expect(yield* port.objectExists(template, "no_such_object", namedObjects(template)[0]!.kind)).toBe(false)
    }), { timeout: 60_000 })
})
