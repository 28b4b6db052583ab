import { describe, expect, it } from "@effect/vitest"
import type { ConsumeMessage } from "amqplib"
import { Effect, Schedule } from "effect"
import { randomBytes, randomUUID } from "node:crypto"
import type { Reply } from "../../src/protocol/envelope.js"
import { DIRECT_REPLY_TO, EVENTS_EXCHANGE } from "../../src/protocol/routing.js"
import type { Template } from "../../src/templates/schema.js"
import { fixtureNodeConfig, startFixtureNodes } from "../support/fixture-node.js"
import { rawConnection, scopedVhost } from "../support/rabbit.js"
import { signedHeaders } from "../support/trust.js"

/** Two real nodes serving one adapter's contract template on this test's vhost, a client, and a raw channel. */
const startTwoNodes = (adapter: Template["adapter"]) =>
  Effect.gen(function*() {
    const vhost = yield* scopedVhost
    const a = yield* fixtureNodeConfig(vhost, `once${adapter}a`, adapter)
    const b = yield* fixtureNodeConfig(vhost, `once${adapter}b`, adapter)
    const template = a.templates.find((t) => t.adapter === adapter)!
    const { client } = yield* startFixtureNodes(vhost, [a.config, b.config], [template])
    return { client, template, vhost }
  })

const freshId = () => `once${randomBytes(6).toString("hex")}`

describe.each(["mariadb", "mongodb", "dynamodb"] as const)("exactly once on %s (two nodes consuming)", (adapter) => {
  it.scopedLive("the same key twice, in a row and 8 at once: one write, identical replies; the key for another body: key_reused", () =>
    Effect.gen(function*() {
      const { client, template } = yield* startTwoNodes(adapter)
      const create = (id: string, key: string, title = "first") =>
        client.request({ template: template.name, op: "create", data: { id, title }, idempotencyKey: key })

      // In a row: the second is the first's reply (not a duplicate-key conflict), and the record is the first's.
      const id = freshId()
      const key = `key-${randomUUID()}`
      const first = yield* create(id, key)
      expect(first).toMatchObject({ status: "ok", data: { id, title: "first", version: 1 } })
      const again = yield* create(id, key)
      expect(again.status === "ok" && again.data).toStrictEqual(first.status === "ok" && first.data)

      // Another body under the same key: refused, and nothing ran (the record is unchanged).
      const reused = yield* create(id, key, "second")
      expect(reused.status === "error" && reused.error).toMatchObject({ code: "key_reused", retryable: false })
      expect(yield* client.request({ template: template.name, op: "fetch", query: { id } })).toMatchObject({ status: "ok", data: { title: "first", version: 1 } })

      // 8 at once, spread over both nodes: every reply is ok and the same, one record.
      const burstId = freshId()
      const burstKey = `key-${randomUUID()}`
      // As a client should, each resends on a retryable answer (in_progress while another holds the key).
      const burst = yield* Effect.forEach(Array.from({ length: 8 }), () =>
        client.request({ template: template.name, op: "create", data: { id: burstId, title: "first" }, idempotencyKey: burstKey, resends: 5 }), { concurrency: 8 })
      for (const reply of burst) expect(reply).toMatchObject({ status: "ok", data: { id: burstId, title: "first", version: 1 } })
      expect(new Set(burst.map((reply) => JSON.stringify(reply.status === "ok" && reply.data))).size).toBe(1)
    }), { timeout: 60_000 })

  it.scopedLive("a redelivered request without a key (the same envelope twice) runs once: its eventId is its scope", () =>
    Effect.gen(function*() {
      const { client, template, vhost } = yield* startTwoNodes(adapter)
      const raw = yield* rawConnection(vhost)
      const channel = yield* Effect.promise(() => raw.createChannel())
      const replies: Array<Reply> = []
      yield* Effect.promise(() => channel.consume(DIRECT_REPLY_TO, (message: ConsumeMessage | null) => {
        if (message !== null) replies.push(JSON.parse(message.content.toString()) as Reply)
      }, { noAck: true }))
      const id = freshId()
      const envelope = Buffer.from(JSON.stringify({
        version: 1,
        template: template.name,
        op: "create",
        data: { id, title: "redelivered" },
        lineage: { eventId: `oncetest.dev.${randomUUID()}`, parentId: "", depth: 0 }
      }))
      // Two copies of the one envelope, each signed by the producer (the same request sent twice).
      for (const copy of [1, 2]) {
        const key = `write.${template.name}.create`
        channel.publish(EVENTS_EXCHANGE, key, envelope, {
          correlationId: `copy-${copy}`,
          replyTo: DIRECT_REPLY_TO,
          contentType: "application/json",
          persistent: true,
          headers: signedHeaders(key, `copy-${copy}`, DIRECT_REPLY_TO, envelope)
        })
      }
      yield* Effect.sync(() => replies.length).pipe(
        Effect.filterOrFail((n) => n >= 2, () => "waiting for both replies"),
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds")))
      )
      // Both answered ok with the one record: the second did not run (it would be a duplicate-key conflict).
      for (const reply of replies) expect(reply).toMatchObject({ status: "ok", data: { id, title: "redelivered", version: 1 } })
      expect(yield* client.request({ template: template.name, op: "fetch", query: { id } })).toMatchObject({ status: "ok", data: { title: "redelivered" } })
    }), { timeout: 60_000 })
})
