import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel, Schedule } from "effect"
import { BrokerPools, BrokerPoolsLive } from "../../src/brokers/pool.js"
import { BedsClient, BedsClientLive } from "../../src/client/client.js"
import type { Reply } from "../../src/protocol/envelope.js"
import { TracingOff } from "../../src/telemetry/tracing.js"
import { AmqpConnectionLive } from "../../src/transport/connection.js"
import { NodeContext } from "@effect/platform-node"
import mysql from "mysql2/promise"
import path from "node:path"
import { addDatabase, uniqueName } from "../../scripts/local-services.mjs"
import { openMariaDb, type Run } from "../../src/adapters/mariadb/client.js"
import { makeMariaDbCore } from "../../src/adapters/mariadb/core.js"
import { applyMariaDbSchema } from "../../src/schema/mariadb.js"
import { repoRoot } from "../support/node-process.js"
import { applyShippedMariaDbSchema, factoryLayer, mariaDbEndpoint, shippedTemplates } from "../support/templates.js"
import { rabbitConfig, scopedVhost } from "../support/rabbit.js"
import { testServices } from "../support/services.js"
import { signing, SignedTrust } from "../support/trust.js"

const services = testServices()
const specs = [
  { type: "rBroker", routes: ["read"], instances: 1, prefetch: 16 },
  { type: "wBroker", routes: ["write"], instances: 1, prefetch: 16 }
].map((s) => ({ ...s, queueType: "classic" as const, drainTimeoutMs: 2_000, retry: { transientRetries: 2, retryBaseDelayMs: 5, retryMaxDelayMs: 20 } }))

const start = Effect.gen(function*() {
  yield* applyShippedMariaDbSchema(services)
  const vhost = yield* scopedVhost
  const node = BrokerPoolsLive(specs, { restartBaseDelayMs: 20, restartMaxDelayMs: 200 }).pipe(
    Layer.provide(factoryLayer(services)),
    Layer.provide(AmqpConnectionLive(rabbitConfig(vhost), { name: `maria ${vhost}`, connectTimeoutMs: 5_000 })),
    Layer.provide(Layer.mergeAll(Logger.minimumLogLevel(LogLevel.Error), TracingOff, SignedTrust))
  )
  const context = yield* Layer.build(
    Layer.merge(node, BedsClientLive({ rabbitmq: rabbitConfig(vhost), clientId: "mariatest", env: "dev", defaultTimeoutMs: 10_000, signing }))
  )
  const pools = Context.get(context, BrokerPools)
  yield* pools.stats.pipe(
    Effect.filterOrFail((stats) => stats.every((s) => s.consuming === s.instances), () => "not yet"),
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds")))
  )
  return Context.get(context, BedsClient)
})

const okData = (reply: Reply) => {
  if (reply.status !== "ok") throw new Error(`expected ok, got ${JSON.stringify(reply.error)}`)
  return reply.data as Record<string, unknown>
}
const errorCode = (reply: Reply) => reply.status === "error" ? reply.error.code : "ok"

describe("MariaDB end to end: request on RabbitMQ -> broker -> factory -> adapter -> stored procedure -> reply", () => {
  it.scopedLive("create, fetch, named read, update with locking, delete", () =>
    Effect.gen(function*() {
      const client = yield* start
      const email = `ada.${services.runId}@example.com`
      const created = okData(yield* client.request({ template: "customers", op: "create", data: { name: "Ada", email, tier: "gold", credit_limit: 250.5, active: true } }))
      expect(created).toMatchObject({ name: "Ada", email, tier: "gold", credit_limit: 250.5, active: true, version: 1 })
      const id = created["id"] as number

      const fetched = yield* client.request({ template: "customers", op: "fetch", query: { id } })
      expect(okData(fetched)).toStrictEqual(created)
      const byEmail = yield* client.request({ template: "customers", op: "by_email", route: "read", query: { email } })
      expect(okData(byEmail)).toStrictEqual([created])

      const updated = okData(yield* client.request({ template: "customers", op: "update", data: { id, name: "Ada L.", version: 1 } }))
      expect(updated).toMatchObject({ id, name: "Ada L.", email, version: 2 })
      const stale = yield* client.request({ template: "customers", op: "update", data: { id, name: "Nope", version: 1 } })
      expect(stale.status === "error" && stale.error).toMatchObject({ code: "conflict", message: "stale version" })

      const duplicate = yield* client.request({ template: "customers", op: "create", data: { name: "Twin", email } })
      expect(errorCode(duplicate)).toBe("conflict")

      const notAdmin = yield* client.request({ template: "customers", op: "delete", query: { id } })
      expect(errorCode(notAdmin)).toBe("forbidden")
      const removed = yield* client.request({ template: "customers", op: "delete", query: { id, version: 2 }, caller: { id: "u1", roles: ["admin"] } })
      expect(okData(removed)).toMatchObject({ id })
      expect(errorCode(yield* client.request({ template: "customers", op: "fetch", query: { id } }))).toBe("not_found")
      const again = yield* client.request({ template: "customers", op: "delete", query: { id }, caller: { id: "u1", roles: ["admin"] } })
      expect(errorCode(again)).toBe("not_found")
    }), { timeout: 60_000 })

  it.scopedLive("requests the template refuses never reach the database: validation names the field", () =>
    Effect.gen(function*() {
      const client = yield* start
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ name: "A" }, /^data\.email: missing, expected /],
        [{ name: "A", email: "not-an-email" }, /^data\.email: expected .*matching the pattern.*, found "not-an-email"$/],
        [{ name: "A", email: "a@b.c", tier: "platinum" }, /^data\.tier: expected .*bronze\|silver\|gold.*, found "platinum"$/],
        [{ name: "A", email: "a@b.c", credit_limit: -1 }, /^data\.credit_limit: expected .*greaterThanOrEqualTo\(0\).*, found -1$/],
        [{ name: "x".repeat(101), email: "a@b.c" }, /^data\.name: expected at most 100 characters, found "x{76}\.\.\.$/],
        [{ name: "🐘".repeat(101), email: "a@b.c" }, /^data\.name: expected at most 100 characters, found /],
        [{ name: "A", email: "a@b.c", id: 5 }, /^data\.id: unknown key \(found 5\)$/],
        [{ name: "A", email: "a@b.c", is_admin: true }, /^data\.is_admin: unknown key \(found true\)$/]
      ]
      for (const [data, message] of cases) {
        const reply = yield* client.request({ template: "customers", op: "create", data })
        expect(reply.status === "error" && reply.error.code).toBe("validation")
        expect(reply.status === "error" && reply.error.message).toMatch(message)
      }
      // max_length counts characters (code points), as MariaDB does: 100 emoji are 200 UTF-16 units, and fit.
      const emoji = "🐘".repeat(100)
      const stored = yield* client.request({ template: "customers", op: "create", data: { name: emoji, email: `emoji.${services.runId}@example.com` } })
      expect(okData(stored)["name"]).toBe(emoji)
      const wrongRoute = yield* client.request({ template: "customers", op: "create", route: "read", data: { name: "A", email: "a@b.c" } })
      expect(wrongRoute.status === "error" && wrongRoute.error.message).toBe("customers.create is a write: send it on route write, not read")
    }), { timeout: 60_000 })
})

describe("MariaDB adapter: master and secondary, one pool per endpoint", () => {
  it.scopedLive("writes go to the master, reads to the secondary when one is configured", () =>
    Effect.gen(function*() {
      // No replica here: a second database with the same objects stands in, so the routing shows.
      const secondaryName = uniqueName("beds_t_replica")
      const drop = yield* Effect.promise(() => addDatabase(secondaryName))
      yield* Effect.addFinalizer(() => Effect.promise(() => drop()))
      const master = mariaDbEndpoint(services)
      const secondary = { ...master, database: secondaryName }
      yield* applyMariaDbSchema(secondary, [path.join(repoRoot, "schema", "beds", "mariadb"), path.join(repoRoot, "schema", "mariadb")]).pipe(
        Effect.provide(NodeContext.layer)
      )
      const core = yield* makeMariaDbCore({ master, secondary, maxConnections: 2, connectTimeoutMs: 5_000 })
      const template = (yield* shippedTemplates).find((t) => t.name === "customers")!
      const call = (object: string, values: Record<string, unknown>, params: ReadonlyArray<string>) => ({ template, object, values, params })
      const once = (name: string) => ({ scope: `customers/${services.runId}.${name}`, fingerprint: name, retentionS: 60 })

      const email = `split.${services.runId}@example.com`
      const written = yield* core.write(call("cus_create", { name: "Split", email }, ["name", "email", "tier", "credit_limit", "active"]), "create", once("create"), {
        before: undefined
      })
      const created = (written.recorded.ok ? written.recorded.data : {}) as Record<string, unknown>
      // The row is on the master only: a fetch (the view, read side) finds nothing.
      expect(yield* core.fetchRecords(call("cus_view", { id: created["id"] }, []))).toStrictEqual([])
      // Put a row with that id on the secondary: now the fetch returns the secondary's row.
      yield* Effect.promise(async () => {
        const db = await mysql.createConnection({ host: "127.0.0.1", user: services.mariadb.username, password: services.mariadb.password, database: secondaryName })
        await db.query("INSERT INTO cus_customers (id, name, email) VALUES (?, 'On the replica', ?)", [created["id"], email])
        await db.end()
      })
      expect(yield* core.fetchRecords(call("cus_view", { id: created["id"] }, []))).toMatchObject([{ id: created["id"], name: "On the replica" }])
      // A named read is a read too; a write goes to the master whatever the secondary holds.
      expect(yield* core.readNamed(call("cus_by_email", { email }, ["email"]))).toMatchObject([{ name: "On the replica" }])
      const updated = yield* core.write(
        call("cus_update", { id: created["id"], name: "Master", version: 1 }, ["id", "name", "email", "tier", "credit_limit", "active"]),
        "update",
        once("update"),
        { before: "cus_view" }
      )
      expect(updated).toMatchObject({ recorded: { ok: true, data: { name: "Master", version: 2 } }, replayed: false, before: { name: "Split", version: 1 } })
    }), { timeout: 60_000 })

  it.scopedLive("reads run on the SqlClient's own pool (the escape hatch opens no second pool)", () =>
    Effect.gen(function*() {
      // One connection in the pool: a read on a second pool would get another connection id.
      const db = yield* openMariaDb(mariaDbEndpoint(services), { maxConnections: 1, connectTimeoutMs: 5_000 })
      const inTransaction = yield* db.sql.withTransaction(db.sql.unsafe<{ id: number }>("SELECT CONNECTION_ID() AS id"))
      const read = (yield* db.read("SELECT CONNECTION_ID() AS id", [])) as ReadonlyArray<{ id: number }>
      expect(read[0]!.id).toBe(inTransaction[0]!.id)
    }), { timeout: 30_000 })

  // The write path's contract with BEDS's own procedures (adapters/mariadb/core.ts): the claim opens
  // the transaction the DBA's procedure then runs in, and the record commits it. If beds_idem_open
  // stopped starting it, the claim and the write would each commit alone.
  it.scopedLive("beds_idem_open starts the write's transaction, beds_idem_close commits it; a scope already recorded comes back with no transaction left open", () =>
    Effect.gen(function*() {
      yield* applyShippedMariaDbSchema(services)
      const db = yield* openMariaDb(mariaDbEndpoint(services), { maxConnections: 1, connectTimeoutMs: 5_000 })
      const scope = `test/${uniqueName("idem")}`
      yield* Effect.addFinalizer(() => Effect.ignore(db.sql.unsafe("DELETE FROM beds_idempotency WHERE scope = ?", [scope])))
      const open = (run: Run) => Effect.map(run("SELECT @@in_transaction AS open", []), (rows) => Number((rows as ReadonlyArray<{ open: number }>)[0]!.open))
      const first = yield* db.transaction((run, ended) =>
        Effect.gen(function*() {
          const found = (yield* run("CALL beds_idem_open(?, ?, ?)", [scope, "f".repeat(64), 60])) as ReadonlyArray<unknown>
          const afterOpen = yield* open(run)
          yield* run("CALL beds_idem_close(?, ?)", [scope, "{}"])
          ended()
          return { found: Array.isArray(found[0]) ? found[0].length : 0, afterOpen, afterClose: yield* open(run) }
        }))
      expect(first).toEqual({ found: 0, afterOpen: 1, afterClose: 0 })
      const repeat = yield* db.transaction((run, ended) =>
        Effect.gen(function*() {
          const found = (yield* run("CALL beds_idem_open(?, ?, ?)", [scope, "f".repeat(64), 60])) as ReadonlyArray<unknown>
          ended()
          return { found: found[0], afterOpen: yield* open(run) }
        }))
      expect(repeat).toEqual({ found: [{ fingerprint: "f".repeat(64), outcome: "{}" }], afterOpen: 0 })
    }), { timeout: 30_000 })
})
