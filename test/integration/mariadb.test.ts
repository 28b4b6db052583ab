import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel, Schedule } from "effect"
import { BrokerPools, BrokerPoolsLive } from "../../src/brokers/pool.js"
import { BedsClient, BedsClientLive } from "../../src/client/client.js"
import type { Reply } from "../../src/protocol/envelope.js"
import { AmqpConnectionLive } from "../../src/transport/connection.js"
import { applyShippedMariaDbSchema, factoryLayer } from "../support/templates.js"
import { rabbitConfig, scopedVhost } from "../support/rabbit.js"
import { testServices } from "../support/services.js"

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
    Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
  )
  const context = yield* Layer.build(Layer.merge(node, BedsClientLive({ rabbitmq: rabbitConfig(vhost), clientId: "mariatest", env: "dev", defaultTimeoutMs: 10_000 })))
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
      expect(okData(fetched)).toStrictEqual([created])
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
        [{ name: "x".repeat(101), email: "a@b.c" }, /^data\.name: expected maxLength\(100\), found "x{76}\.\.\.$/],
        [{ name: "A", email: "a@b.c", id: 5 }, /^data\.id: unknown key \(found 5\)$/],
        [{ name: "A", email: "a@b.c", is_admin: true }, /^data\.is_admin: unknown key \(found true\)$/]
      ]
      for (const [data, message] of cases) {
        const reply = yield* client.request({ template: "customers", op: "create", data })
        expect(reply.status === "error" && reply.error.code).toBe("validation")
        expect(reply.status === "error" && reply.error.message).toMatch(message)
      }
      const wrongRoute = yield* client.request({ template: "customers", op: "create", route: "read", data: { name: "A", email: "a@b.c" } })
      expect(wrongRoute.status === "error" && wrongRoute.error.message).toBe("customers.create is a write: send it on route write, not read")
    }), { timeout: 60_000 })
})
