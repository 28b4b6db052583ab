import { describe, expect, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import {
  adminRoute,
  applyUserLayout,
  BROKER_TYPES,
  LOG_FAMILIES,
  layoutCommands,
  layoutDefinitions,
  removeUsers,
  shippedRoutes,
  userLayout
} from "../../scripts/rabbitmq-users.mjs"
import { BrokerType } from "../../src/config/schema.js"
import { auditKey, invalidationKey, journalKey } from "../../src/protocol/routing.js"

const layout = userLayout({ vhost: "/beds", producers: [{ user: "reports", routes: ["read"] }, { user: "batch", routes: ["write", "job"], replyPrefix: "batch.reply." }] })
const entry = (user: string) => layout.find((e) => e.user === user)!
const matches = (pattern: string, name: string) => new RegExp(pattern).test(name)

describe("the RabbitMQ user layout (scripts/rabbitmq-users.mjs), as regular expressions", () => {
  it("knows every broker type, event family and shipped route the node has", () => {
    expect([...BROKER_TYPES]).toStrictEqual([...BrokerType.literals])
    for (const key of [invalidationKey("customers"), auditKey("customers", "create"), journalKey("customers", "update")]) {
      expect(LOG_FAMILIES.some((family) => key.startsWith(`${family}.`)), key).toBe(true)
    }
    expect(shippedRoutes()).toStrictEqual(["read", "write", "job", "warehouse", "cool", "user", "session"])
  })

  it("a node: its queues and topology, replies, dead letters and events; never a dead-letter queue's contents or a request", () => {
    const { permissions, topics } = entry("beds-node")
    for (const name of ["beds.events", "beds.logs", "beds.wBroker", "beds.wBroker.dlx", "beds.wBroker.dlq", "amq.gen-abc"]) expect(matches(permissions.configure, name), name).toBe(true)
    for (const name of ["beds.logs", "beds.wBroker.dlx", "amq.default"]) expect(matches(permissions.write, name), name).toBe(true)
    expect(matches(permissions.write, "beds.events")).toBe(false)
    for (const name of ["beds.wBroker", "beds.rBroker", "amq.gen-abc"]) expect(matches(permissions.read, name), name).toBe(true)
    for (const name of ["beds.wBroker.dlq", "batch.reply.1", "beds.other"]) expect(matches(permissions.read, name), name).toBe(false)
    const logs = topics.find((t) => t.exchange === "beds.logs")!
    expect(matches(logs.write, "cache.invalidate.customers")).toBe(true)
    expect(matches(logs.write, "forged.anything")).toBe(false)
    const events = topics.find((t) => t.exchange === "beds.events")!
    expect(matches(events.read, "write.#")).toBe(true)
    expect(matches(events.read, "#")).toBe(false)
  })

  it("a producer: publishes its routes on beds.events, reads only its own reply queues; the operator: dead letters only", () => {
    const reports = entry("reports")
    expect(reports.permissions).toStrictEqual({ configure: "^$", write: "^beds\\.events$", read: "^$" })
    expect(matches(reports.topics[0]!.write, "read.customers.fetch")).toBe(true)
    expect(matches(reports.topics[0]!.write, "write.customers.create")).toBe(false)
    const batch = entry("batch")
    expect(matches(batch.permissions.read, "batch.reply.q1")).toBe(true)
    expect(matches(batch.permissions.read, "batchXreply.q1")).toBe(false)
    const operator = entry("beds-operator")
    expect(matches(operator.permissions.read, "beds.sBroker.dlq")).toBe(true)
    expect(matches(operator.permissions.read, "beds.sBroker")).toBe(false)
    expect(operator.permissions.configure).toBe("^$")
  })

  it("hands RabbitMQ salted hashes, never the passwords; the printed commands carry none", () => {
    const definitions = layoutDefinitions(layout, (user) => `pw-of-${user}`)
    expect(JSON.stringify(definitions)).not.toContain("pw-of-")
    for (const user of definitions.users) {
      const hash = Buffer.from(user.password_hash, "base64")
      const salt = hash.subarray(0, 4)
      expect(hash.subarray(4)).toStrictEqual(createHash("sha256").update(Buffer.concat([salt, Buffer.from(`pw-of-${user.name}`)])).digest())
    }
    expect(definitions.topic_permissions).toHaveLength(layout.reduce((n, e) => n + e.topics.length, 0))
    expect(layoutCommands(layout).join("\n")).not.toContain("pw-of-")
  })

  it("through the management API: one POST of the definitions, one bulk delete, as the admin user given", async () => {
    const seen: Array<{ method: string; url: string; authorization: string; body: string }> = []
    let status = 204
    const server = createServer((request, response) => {
      let body = ""
      request.on("data", (chunk) => (body += chunk))
      request.on("end", () => {
        seen.push({ method: request.method!, url: request.url!, authorization: request.headers.authorization ?? "", body })
        response.writeHead(status).end()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const route = adminRoute({ api: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`, user: "admin", password: "admin-pw" })
      await applyUserLayout(layout, (user) => `pw-of-${user}`, route)
      await removeUsers(layout, route)
      expect(seen.map(({ method, url, authorization }) => [method, url, authorization])).toStrictEqual([
        ["POST", "/api/definitions", `Basic ${Buffer.from("admin:admin-pw").toString("base64")}`],
        ["POST", "/api/users/bulk-delete", `Basic ${Buffer.from("admin:admin-pw").toString("base64")}`]
      ])
      const definitions = JSON.parse(seen[0]!.body)
      expect(definitions.users.map((user: { name: string }) => user.name)).toStrictEqual(layout.map((entry) => entry.user))
      expect(seen[0]!.body).not.toContain("pw-of-")
      expect(JSON.parse(seen[1]!.body)).toStrictEqual({ users: layout.map((entry) => entry.user) })
      status = 401
      await expect(applyUserLayout(layout, (user) => `pw-of-${user}`, route)).rejects.toThrow(/^RabbitMQ management API: POST \/definitions: 401$/)
    } finally {
      server.close()
    }
  })
})
