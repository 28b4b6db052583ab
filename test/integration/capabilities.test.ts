import { describe, expect, it } from "@effect/vitest"
import type { ConsumeMessage } from "amqplib"
import { Effect, Schedule } from "effect"
import mysql from "mysql2/promise"
import { randomBytes } from "node:crypto"
import type { Reply } from "../../src/protocol/envelope.js"
import type { Template } from "../../src/templates/schema.js"
import { LOGS_EXCHANGE } from "../../src/protocol/routing.js"
import { fixtureNodeConfig, startFixtureNodes } from "../support/fixture-node.js"
import { rawConnection, scopedVhost } from "../support/rabbit.js"
import { testServices } from "../support/services.js"

const services = testServices()
const ok = (reply: Reply) => {
  if (reply.status !== "ok") throw new Error(`expected ok, got ${JSON.stringify(reply.error)}`)
  return reply.data as Record<string, unknown> & Array<Record<string, unknown>>
}
const freshId = () => `cap${randomBytes(6).toString("hex")}`

/** The MariaDB contract fixture with capabilities switched on: its objects are already declared. */
const withCapabilities = (templates: ReadonlyArray<Template>, capabilities: Partial<Template["capabilities"]>) => {
  const base = templates.find((t) => t.adapter === "mariadb")!
  return { ...base, capabilities: { ...base.capabilities, ...capabilities } }
}

describe("template capabilities", () => {
  it.scopedLive("audit and journal: each write publishes who/when/what and before/after to beds.logs, as child events", () =>
    Effect.gen(function*() {
      const vhost = yield* scopedVhost
      const { config, templates } = yield* fixtureNodeConfig(vhost, "cap1", "mariadb")
      const template = withCapabilities(templates, { audit: true, journal: true })
      const { client } = yield* startFixtureNodes(vhost, [config], [template])

      const raw = yield* rawConnection(vhost)
      const channel = yield* Effect.promise(() => raw.createChannel())
      const { queue } = yield* Effect.promise(() => channel.assertQueue("", { exclusive: true }))
      for (const key of ["audit.#", "journal.#"]) yield* Effect.promise(() => channel.bindQueue(queue, LOGS_EXCHANGE, key))
      const events: Array<{ routingKey: string; body: Record<string, any> }> = []
      yield* Effect.promise(() =>
        channel.consume(queue, (m: ConsumeMessage | null) => {
          if (m !== null) events.push({ routingKey: m.fields.routingKey, body: JSON.parse(m.content.toString()) })
        }, { noAck: true }))

      const caller = { id: "u7", roles: ["clerk"] }
      const id = freshId()
      const created = yield* client.request({ template: template.name, op: "create", data: { id, title: "first" }, caller })
      const updated = yield* client.request({ template: template.name, op: "update", data: { id, title: "second", version: 1 }, caller })
      const deleted = yield* client.request({ template: template.name, op: "delete", query: { id }, caller })
      for (const reply of [created, updated, deleted]) ok(reply)
      yield* Effect.sync(() => events.length).pipe(
        Effect.filterOrFail((n) => n >= 6, () => "waiting for events"),
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("5 seconds")))
      )

      expect(events.map((e) => e.routingKey).sort()).toStrictEqual([
        "audit.contract_rel.create", "audit.contract_rel.delete", "audit.contract_rel.update",
        "journal.contract_rel.create", "journal.contract_rel.delete", "journal.contract_rel.update"
      ])
      const event = (key: string) => events.find((e) => e.routingKey === key)!.body
      const replies: Record<string, Reply> = { create: created, update: updated, delete: deleted }
      for (const op of ["create", "update", "delete"]) {
        for (const kind of ["audit", "journal"]) {
          const body = event(`${kind}.contract_rel.${op}`)
          expect(body).toMatchObject({ version: 1, kind, template: "contract_rel", op, key: id, caller })
          expect(Date.parse(body["at"])).not.toBeNaN()
          // A child of the request in the lineage tree.
          expect(body["lineage"]).toMatchObject({ parentId: replies[op]!.lineage!.eventId, depth: 1 })
          expect(body["lineage"].eventId).toMatch(/^cap1\.dev\./)
        }
      }
      expect(event("journal.contract_rel.create")).toMatchObject({ before: null, after: { id, title: "first", version: 1 } })
      expect(event("journal.contract_rel.update")).toMatchObject({ before: { title: "first", version: 1 }, after: { title: "second", version: 2 } })
      expect(event("journal.contract_rel.delete")).toMatchObject({ before: { title: "second", version: 2 }, after: null })
    }), { timeout: 60_000 })

  it.scopedLive("read cache: fetches are served from cache until a write to the template clears it on every node", () =>
    Effect.gen(function*() {
      const vhost = yield* scopedVhost
      const a = yield* fixtureNodeConfig(vhost, "cachea", "mariadb")
      const b = yield* fixtureNodeConfig(vhost, "cacheb", "mariadb")
      const template = withCapabilities(a.templates, { cache_ttl_s: 300 })
      // Two nodes consume the same queues: successive fetches land on both.
      const { client } = yield* startFixtureNodes(vhost, [a.config, b.config], [template])
      const [x, y] = [freshId(), freshId()]
      ok(yield* client.request({ template: template.name, op: "create", data: { id: x, title: "original" } }))
      ok(yield* client.request({ template: template.name, op: "create", data: { id: y, title: "other" } }))
      const titles = Effect.forEach(Array.from({ length: 8 }), () =>
        client.request({ template: template.name, op: "fetch", query: { id: x } }).pipe(Effect.map((r) => ok(r)["title"])))
      expect(yield* titles).toStrictEqual(Array(8).fill("original"))

      // Behind BEDS's back: the cached answers do not change.
      yield* Effect.acquireUseRelease(
        Effect.promise(() => mysql.createConnection({ host: "127.0.0.1", port: 3306, user: services.mariadb.username, password: services.mariadb.password, database: services.mariadb.database })),
        (db) => Effect.promise(() => db.query("UPDATE crl_items SET title = 'changed underneath' WHERE id = ?", [x])),
        (db) => Effect.promise(() => db.end())
      )
      expect(yield* titles).toStrictEqual(Array(8).fill("original"))

      // A write to any record of the template, through BEDS, clears the cache on both nodes.
      ok(yield* client.request({ template: template.name, op: "update", data: { id: y, title: "touched", version: 1 } }))
      yield* titles.pipe(
        Effect.filterOrFail((seen) => seen.every((t) => t === "changed underneath"), (seen) => `still cached somewhere: ${seen}`),
        Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("5 seconds")))
      )
    }), { timeout: 60_000 })
})
