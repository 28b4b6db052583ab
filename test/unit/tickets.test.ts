import { describe, expect, it } from "@effect/vitest"
import type { ConsumeMessage } from "amqplib"
import { Effect, Exit } from "effect"
import { decodeDelivery } from "../../src/brokers/ingress.js"
import { Dispatch } from "../../src/core/dispatch.js"
import { ticketView } from "../../src/core/ticket-view.js"
import type { Request } from "../../src/protocol/envelope.js"
import type { Template } from "../../src/templates/schema.js"
import { fixtureTemplates, memoryFactoryLayer, unitRequest } from "../support/factory.js"

const request = unitRequest

const longRunning = (template: Template): Template => ({
  ...template,
  operations: { ...template.operations, create: { ...template.operations.create!, long_running: true } }
})

const row = {
  ticket_id: "beds1.dev.5f0c1d2e-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
  status: "done",
  template: "jobs",
  op: "slow_add",
  caller_id: "alice",
  attempts: 2,
  result: "[{\"id\":\"a\",\"runs\":1}]",
  error_code: null,
  error_message: null,
  parent_id: "web1.dev.0b7e2f5a-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
  depth: 1,
  created_at: new Date("2026-11-28T16:00:00.000Z"),
  started_at: "2026-11-28T16:00:01.000Z",
  ended_at: "2026-11-28T16:00:02.000Z",
  expires_at: "2026-11-29T16:00:02.000Z"
}

describe("tickets", () => {
  it.effect("the factory: route job takes tickets only, a long-running operation only on route job, notify only on a ticket", () =>
    Effect.gen(function*() {
      const rel = (yield* fixtureTemplates).find((t) => t.name === "contract_rel")!
      const factory = yield* Dispatch.pipe(Effect.provide(memoryFactoryLayer([longRunning(rel)])))
      const run = (req: Request, route: string) =>
        factory.run(req, route).pipe(Effect.map((data) => ({ ok: data })), Effect.catchAll((error) => Effect.succeed({ [error._tag]: error.message })))

      expect(yield* run(request("create", { data: { id: "abcdefgh", title: "t" } }), "write")).toStrictEqual({
        ValidationFailed: "contract_rel.create is long-running: send it on route job"
      })
      expect(yield* run(request("update", { data: { id: "abcdefgh", title: "t", version: 1 }, ticket: true }), "write")).toStrictEqual({
        ValidationFailed: "contract_rel.update asks for a ticket: send it on route job"
      })
      expect(yield* run(request("update", { data: { id: "abcdefgh", title: "t", version: 1 } }), "job")).toStrictEqual({
        ValidationFailed: "route job takes tickets: set \"ticket\": true, or send contract_rel.update on route write"
      })
      expect(yield* run(request("fetch", { query: { id: "abcdefgh" }, notify: "replies.x" }), "read")).toStrictEqual({
        ValidationFailed: "notify is for tickets: send contract_rel.fetch on route job with \"ticket\": true"
      })
      // Checked at submission like any request: values first, then the store (none here keeps tickets).
      expect(yield* run(request("create", { data: { id: "abcdefgh" } }), "job")).toMatchObject({ ValidationFailed: expect.stringMatching(/^data\.title/) })
      expect(yield* run(request("create", { data: { id: "abcdefgh", title: "t" } }), "job")).toStrictEqual({
        Unavailable: "tickets: this node has no MariaDB, where tickets are kept"
      })
    }))

  it.effect("a ticket as a poll shows it: result, error, times, lineage; unknown for no row and for another caller", () =>
    Effect.gen(function*() {
      const id = row.ticket_id
      expect(yield* ticketView(id, row, { id: "alice", roles: [] })).toStrictEqual({
        ticket_id: id,
        status: "done",
        template: "jobs",
        op: "slow_add",
        attempts: 2,
        result: [{ id: "a", runs: 1 }],
        error: null,
        created_at: "2026-11-28T16:00:00.000Z",
        started_at: "2026-11-28T16:00:01.000Z",
        ended_at: "2026-11-28T16:00:02.000Z",
        expires_at: "2026-11-29T16:00:02.000Z",
        lineage: { eventId: id, parentId: row.parent_id, depth: 1 }
      })
      expect(yield* ticketView(id, row, { id: "bob", roles: [] })).toMatchObject({ status: "unknown", result: null, lineage: null })
      expect(yield* ticketView(id, row, undefined)).toMatchObject({ status: "unknown" })
      expect(yield* ticketView(id, row, "any")).toMatchObject({ status: "done" })
      expect(yield* ticketView(id, undefined, "any")).toMatchObject({ ticket_id: id, status: "unknown", template: null })

      const failed = { ...row, status: "failed", result: null, error_code: "conflict", error_message: "stale version" }
      expect(yield* ticketView(id, failed, "any")).toMatchObject({
        status: "failed",
        result: null,
        error: { code: "conflict", tag: "Conflict", message: "stale version", retryable: false }
      })
      const expired = { ...row, status: "expired", result: null }
      expect(yield* ticketView(id, expired, "any")).toMatchObject({ status: "expired", result: null, error: null })
      // A row that is not a ticket is a defect of the deployment, never a made-up answer.
      expect(Exit.isFailure(yield* Effect.exit(ticketView(id, { ...row, result: "{not json" }, "any")))).toBe(true)
      expect(Exit.isFailure(yield* Effect.exit(ticketView(id, { ...row, status: "later" }, "any")))).toBe(true)
    }))

  it("the envelope: ticket and notify are decoded strictly", () => {
    const body = (extra: Record<string, unknown>) => Buffer.from(JSON.stringify({
      version: 1,
      template: "jobs",
      op: "slow_add",
      data: { id: "abcdefgh" },
      lineage: { eventId: "web1.dev.0b7e2f5a-1c2d-4e5f-8a9b-0c1d2e3f4a5b", parentId: "", depth: 0 },
      ...extra
    }))
    const decode = (extra: Record<string, unknown>) =>
      decodeDelivery({
        content: body(extra),
        fields: { routingKey: "job.jobs.slow_add", deliveryTag: 1, redelivered: false, exchange: "beds.events", consumerTag: "c" },
        properties: { correlationId: "c-1", replyTo: "amq.rabbitmq.reply-to", contentType: "application/json", headers: {} }
      } as unknown as ConsumeMessage)
    expect(decode({ ticket: true, notify: "replies.q" })).toMatchObject({ _tag: "Accepted", request: { ticket: true, notify: "replies.q" } })
    expect(decode({ ticket: "yes" })).toMatchObject({ _tag: "Refused", code: "bad_envelope", reason: expect.stringContaining("ticket") })
    expect(decode({ notify: "" })).toMatchObject({ _tag: "Refused", reason: expect.stringContaining("notify") })
    expect(decode({ notify: "with space" })).toMatchObject({ _tag: "Refused", reason: expect.stringContaining("queue name") })
  })
})
