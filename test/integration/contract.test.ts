import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Effect, FastCheck as fc } from "effect"
import type { Reply } from "../../src/protocol/envelope.js"
import { payloadSchema } from "../../src/templates/payload.js"
import type { Template } from "../../src/templates/schema.js"
import { fixtureNodeConfig, startFixtureNodes } from "../support/fixture-node.js"
import { scopedVhost } from "../support/rabbit.js"
import { testServices } from "../support/services.js"

const services = testServices()

/** A real node serving the contract fixture template of one adapter, and a client. */
const startNode = (adapter: Template["adapter"]) =>
  Effect.gen(function*() {
    const vhost = yield* scopedVhost
    const { config, templates } = yield* fixtureNodeConfig(vhost, `contract${adapter}`, adapter)
    const template = templates.find((t) => t.adapter === adapter)!
    const { client } = yield* startFixtureNodes(vhost, [config], [template])
    return { client, template }
  })

const ok = (reply: Reply) => {
  if (reply.status !== "ok") throw new Error(`expected ok, got ${JSON.stringify(reply.error)}`)
  return reply.data
}
const code = (reply: Reply) => (reply.status === "error" ? reply.error.code : "ok")
// As the record travels: JSON drops unset (undefined) fields, and no store here keeps -0 apart from 0.
const asSent = (record: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined).map(([k, v]) => [k, Object.is(v, -0) ? 0 : v]))
// Every template field comes back, null when unset, whichever store holds the record.
const asStored = (template: Template, record: Record<string, unknown>) =>
  ({ ...Object.fromEntries(Object.keys(template.fields).map((f) => [f, null])), ...record, version: 1 })

// One suite, every adapter: the same requests must mean the same thing on MariaDB, DynamoDB and MongoDB.
describe.each(["mariadb", "dynamodb", "mongodb"] as const)("NamasteCore contract: %s", (adapter) => {
  it.scopedLive("random valid records round-trip create -> fetch; stale update -> conflict; delete -> fetch not_found", () =>
    Effect.gen(function*() {
      const { client, template } = yield* startNode(adapter)
      const records = Arbitrary.make(payloadSchema(template, "create", template.operations.create!.params ?? []))
      const samples = fc.sample(records, 12).map(asSent)
      const seen = new Set<unknown>()
      for (const record of samples.filter((r) => !seen.has(r["id"]) && seen.add(r["id"]))) {
        const created = ok(yield* client.request({ template: template.name, op: "create", data: record })) as Record<string, unknown>
        expect(created).toStrictEqual(asStored(template, record))
        // A fetch selects by the key: it answers with the record itself.
        const fetched = ok(yield* client.request({ template: template.name, op: "fetch", query: { id: record["id"] } }))
        expect(fetched).toStrictEqual(asStored(template, record))

        const byTitle = ok(yield* client.request({ template: template.name, op: "by_title", route: "read", query: { title: record["title"] } })) as Array<Record<string, unknown>>
        expect(byTitle.map((r) => r["id"])).toContain(record["id"])

        const updated = ok(yield* client.request({ template: template.name, op: "update", data: { id: record["id"], title: "updated", version: 1 } }))
        expect(updated).toMatchObject({ id: record["id"], title: "updated", version: 2 })
        const stale = yield* client.request({ template: template.name, op: "update", data: { id: record["id"], title: "again", version: 1 } })
        expect(code(stale)).toBe("conflict")

        expect(ok(yield* client.request({ template: template.name, op: "delete", query: { id: record["id"] } }))).toStrictEqual({ id: record["id"] })
        expect(code(yield* client.request({ template: template.name, op: "fetch", query: { id: record["id"] } }))).toBe("not_found")
        expect(code(yield* client.request({ template: template.name, op: "delete", query: { id: record["id"] } }))).toBe("not_found")
      }
      // Creating the same key twice is a conflict, not an overwrite.
      const first = { id: `dup${services.runId.replace(/[^a-z0-9]/g, "").slice(-20)}`, title: "one" }
      ok(yield* client.request({ template: template.name, op: "create", data: first }))
      expect(code(yield* client.request({ template: template.name, op: "create", data: { ...first, title: "two" } }))).toBe("conflict")
      expect(ok(yield* client.request({ template: template.name, op: "fetch", query: { id: first.id } }))).toMatchObject({ title: "one" })
    }), { timeout: 120_000 })

  it.scopedLive("an invalid payload is refused as validation, naming the field", () =>
    Effect.gen(function*() {
      const { client, template } = yield* startNode(adapter)
      const wrongValue: Record<string, unknown> = { id: 42, title: 7, count: -1, score: "high", flag: "yes" }
      for (const field of fc.sample(fc.constantFrom(...Object.keys(wrongValue)), 5)) {
        const data = { id: "abcdefgh", title: "valid", [field]: wrongValue[field] }
        const reply = yield* client.request({ template: template.name, op: "create", data })
        expect(code(reply)).toBe("validation")
        expect(reply.status === "error" && reply.error.message).toMatch(new RegExp(`^data\\.${field}: expected `))
      }
    }), { timeout: 60_000 })

  it.scopedLive("injection attempts are stored as data or refused by the Schema, never executed", () =>
    Effect.gen(function*() {
      const { client, template } = yield* startNode(adapter)
      const hostile = ["x'); DROP TABLE crl_items; --", "\" OR \"1\"=\"1", "$where", "{\"$gt\": \"\"}", "' UNION SELECT 1 --", "\\\u0000\n"]
      for (const [i, title] of hostile.entries()) {
        const id = `inj${i}${services.runId.replace(/[^a-z0-9]/g, "").slice(-12)}`
        ok(yield* client.request({ template: template.name, op: "create", data: { id, title } }))
        // Read back: the exact text, as data.
        expect(ok(yield* client.request({ template: template.name, op: "fetch", query: { id } }))).toStrictEqual(expect.objectContaining({ id, title }))
        expect(ok(yield* client.request({ template: template.name, op: "by_title", route: "read", query: { title } }))).toMatchObject([{ id, title }])
      }
      // Operator objects and oversized strings never get past the Schema.
      const operator = yield* client.request({ template: template.name, op: "fetch", query: { id: { $gt: "" } } })
      expect(reply_(operator)).toMatch(/^query\.id: expected /)
      const oversized = yield* client.request({ template: template.name, op: "create", data: { id: "abcdefgh", title: "t".repeat(201) } })
      expect(reply_(oversized)).toMatch(/^data\.title: expected /)
    }), { timeout: 60_000 })
})

const reply_ = (reply: Reply) => (reply.status === "error" && reply.error.code === "validation" ? reply.error.message : `not validation: ${JSON.stringify(reply)}`)

