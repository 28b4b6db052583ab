import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { randomUUID } from "node:crypto"
import { Dispatch } from "../../src/core/dispatch.js"
import type { Request } from "../../src/protocol/envelope.js"
import type { Template } from "../../src/templates/schema.js"
import { fixtureTemplates, memoryFactoryLayer, unitRequest } from "../support/factory.js"
import type { MemoryCalls } from "../support/memory-core.js"

const request = unitRequest

/** Runs one request through the real factory over the in-memory store: the reply data or the error's code and message. */
const dispatch = (templates: ReadonlyArray<Template>, calls: MemoryCalls, adapters = true) =>
  Effect.map(Dispatch, (factory) => (req: Request, route: string) =>
    factory.run(req, route).pipe(
      Effect.map((data) => ({ ok: data })),
      Effect.catchAll((error) => Effect.succeed({ [error._tag]: error.message }))
    )).pipe(Effect.provide(memoryFactoryLayer(templates, { calls, adapters })))

const withAllow = (template: Template, allow: ReadonlyArray<string>): Template => ({
  ...template,
  operations: { ...template.operations, delete: { ...template.operations.delete!, allow } }
})

describe("the factory, without a database (in-memory NamasteCore)", () => {
  it.effect("routes, checks the caller, decodes, and only then calls the store; a fetch answers with the record", () =>
    Effect.gen(function*() {
      const rel = (yield* fixtureTemplates).find((t) => t.name === "contract_rel")!
      const calls: MemoryCalls = { calls: [] }
      const run = yield* dispatch([withAllow(rel, ["admin"])], calls)

      // Refused before the store: unknown template and op, wrong route, values in the wrong part, bad values, caller.
      expect(yield* run({ ...request("fetch"), template: "nosuch" }, "read")).toStrictEqual({ NotFound: "template nosuch is not loaded on this node" })
      expect(yield* run(request("nosuch"), "read")).toStrictEqual({ NotFound: "template contract_rel has no operation nosuch" })
      expect(yield* run(request("fetch", { query: { id: "abcdefgh" } }), "write")).toStrictEqual({
        ValidationFailed: "contract_rel.fetch is a read: send it on route read, not write"
      })
      expect(yield* run(request("fetch", { data: { id: "abcdefgh" } }), "read")).toStrictEqual({
        ValidationFailed: "contract_rel.fetch takes its values in query, not data"
      })
      expect(yield* run(request("by_title", { data: { title: "x" } }), "read")).toStrictEqual({
        ValidationFailed: "contract_rel.by_title takes its values in query, not data"
      })
      expect(yield* run(request("create", { data: { id: "abcdefgh", title: "t", colour: "red" } }), "write")).toStrictEqual({
        ValidationFailed: "data.colour: unknown key (found \"red\")"
      })
      expect(yield* run(request("create", { data: { id: "abcdefgh", title: "t".repeat(201) } }), "write")).toMatchObject({
        ValidationFailed: expect.stringMatching(/^data\.title: expected at most 200 characters, found /)
      })
      expect(yield* run(request("delete", { query: { id: "abcdefgh" } }), "write")).toStrictEqual({ Forbidden: "caller may not run contract_rel.delete" })
      expect(calls.calls).toStrictEqual([])

      // Then the store: create, fetch (the record itself), named read (a list), not_found, delete by an allowed caller.
      const created = yield* run(request("create", { data: { id: "abcdefgh", title: "first" } }), "write")
      expect(created).toStrictEqual({ ok: { id: "abcdefgh", title: "first", count: null, score: null, flag: null, version: 1 } })
      expect(yield* run(request("fetch", { query: { id: "abcdefgh" } }), "read")).toStrictEqual(created)
      expect(yield* run(request("by_title", { query: { title: "first" } }), "read")).toStrictEqual({ ok: [created.ok] })
      expect(yield* run(request("fetch", { query: { id: "zzzzzzzz" } }), "read")).toStrictEqual({ NotFound: "no contract_rel with id \"zzzzzzzz\"" })
      const admin = { id: "u1", roles: ["admin"] }
      expect(yield* run(request("delete", { query: { id: "abcdefgh" }, caller: admin }), "write")).toStrictEqual({ ok: { id: "abcdefgh" } })
      expect(calls.calls.map((c) => c.method)).toStrictEqual(["write", "mutate", "fetchRecords", "readNamed", "fetchRecords", "write", "mutate"])
    }))

  it.effect("a mutation runs once per idempotency scope: the key, or without one the eventId; another request under a used key is refused", () =>
    Effect.gen(function*() {
      const rel = (yield* fixtureTemplates).find((t) => t.name === "contract_rel")!
      const calls: MemoryCalls = { calls: [] }
      const run = yield* dispatch([rel], calls)
      const mutations = () => calls.calls.filter((c) => c.method === "mutate").length

      const keyed = request("create", { data: { id: "keyed001", title: "once" }, idempotencyKey: "order-1" })
      const first = yield* run(keyed, "write")
      expect(first).toMatchObject({ ok: { id: "keyed001", title: "once", version: 1 } })
      // A resend (a new eventId, the same key) and a redelivery (the same envelope): the first outcome, not run again.
      expect(yield* run({ ...keyed, lineage: { ...keyed.lineage, eventId: `unit.dev.${randomUUID()}` } }, "write")).toStrictEqual(first)
      expect(yield* run(keyed, "write")).toStrictEqual(first)
      expect(mutations()).toBe(1)
      // The key again for another record: refused, nothing runs.
      expect(yield* run(request("create", { data: { id: "keyed002", title: "other" }, idempotencyKey: "order-1" }), "write")).toStrictEqual({
        KeyReused: "idempotencyKey order-1 was first used for a different request (another operation, values or caller); nothing ran"
      })
      expect(mutations()).toBe(1)

      // No key: the eventId is the scope, so a redelivery runs once; another request is another scope.
      const unkeyed = request("create", { data: { id: "unkeyed01", title: "x" } })
      expect(yield* run(unkeyed, "write")).toMatchObject({ ok: { id: "unkeyed01" } })
      expect(yield* run(unkeyed, "write")).toMatchObject({ ok: { id: "unkeyed01" } })
      expect(mutations()).toBe(2)
      expect(yield* run(request("create", { data: { id: "unkeyed01", title: "x" } }), "write")).toMatchObject({ Conflict: expect.stringMatching(/^duplicate/) })
      expect(mutations()).toBe(3)

      // A caller error is an outcome too: its repeat gets the same error, without running.
      const stale = request("update", { data: { id: "keyed001", title: "late", version: 7 }, idempotencyKey: "update-1" })
      expect(yield* run(stale, "write")).toStrictEqual({ Conflict: "stale version" })
      expect(yield* run(stale, "write")).toStrictEqual({ Conflict: "stale version" })
      expect(mutations()).toBe(4)
    }))

  it.effect("a template whose adapter is not on this node answers unavailable, and nothing is called", () =>
    Effect.gen(function*() {
      const rel = (yield* fixtureTemplates).find((t) => t.name === "contract_rel")!
      const calls: MemoryCalls = { calls: [] }
      const run = yield* dispatch([rel], calls, false)
      expect(yield* run(request("fetch", { query: { id: "abcdefgh" } }), "read")).toStrictEqual({
        Unavailable: "adapter mariadb is not available on this node"
      })
      expect(calls.calls).toStrictEqual([])
    }))
})
