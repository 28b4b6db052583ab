import { describe, expect, it } from "@effect/vitest"
import type { GetMessage } from "amqplib"
import { Schema } from "effect"
import { decodeDeadLetter, LetterRefFromString, replayProperties } from "../../src/cli/dead-letter.js"
import { formatAge, jsonLine, listLines } from "../../src/cli/render.js"

/** What amqplib hands over for a basic.get; headers are whatever the message carried (typed loosely on purpose). */
const message = (content: string, properties: Record<string, unknown>, routingKey = "write.customers.create"): GetMessage => ({
  content: Buffer.from(content),
  fields: { deliveryTag: 1, redelivered: false, exchange: "beds.wBroker.dlx", routingKey, messageCount: 0 },
  properties: {
    contentType: undefined, contentEncoding: undefined, headers: {}, deliveryMode: undefined, priority: undefined,
    correlationId: undefined, replyTo: undefined, expiration: undefined, messageId: undefined, timestamp: undefined,
    type: undefined, userId: undefined, appId: undefined, clusterId: undefined,
    ...properties
  } as GetMessage["properties"]
})

const eventId = "web1.prod.0b7e2f5a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
const body = JSON.stringify({ version: 1, template: "customers", op: "create", data: { name: "Ada" }, lineage: { eventId, parentId: "", depth: 0 } })

describe("a dead letter as `beds dlq` reads it (decoded at the edge)", () => {
  it("a node's dead letter: its x-beds-* headers, the request's template, op and eventId", () => {
    const letter = decodeDeadLetter(message(body, {
      messageId: eventId,
      correlationId: "c1",
      headers: { "x-beds-code": "unavailable", "x-beds-reason": "mariadb: deadlock", "x-beds-broker": "wBroker", "x-beds-time": 1_795_000_000_000 }
    }), 3)
    expect(letter).toMatchObject({
      position: 3, id: eventId, code: "unavailable", reason: "mariadb: deadlock",
      template: "customers", op: "create", eventId, deadLetteredAt: 1_795_000_000_000, routingKey: "write.customers.create"
    })
  })

  it("one RabbitMQ dead-lettered itself (x-death), with a body that is not JSON: shown, never a failure", () => {
    const letter = decodeDeadLetter(message("\u0000not json", {
      headers: { "x-death": [{ reason: "rejected", queue: "beds.wBroker", time: { "!": "timestamp", value: 1_795_000_000 } }] }
    }), 1)
    expect(letter).toMatchObject({ code: "rejected", template: undefined, op: undefined, eventId: undefined, deadLetteredAt: 1_795_000_000_000 })
    expect(letter.reason).toMatch(/^rejected by RabbitMQ \(rejected\)/)
    expect(letter.id).toMatch(/^sha256:[0-9a-f]{16}$/)
    // Malformed headers are ignored rather than trusted.
    expect(decodeDeadLetter(message(body, { headers: { "x-beds-code": 42, "x-beds-time": "soon" } }), 1)).toMatchObject({ code: "unknown", deadLetteredAt: undefined, id: eventId })
  })

  it("a replay keeps the request's properties and headers, drops the dead-letter headers and userId, and is mandatory", () => {
    const letter = decodeDeadLetter(message(body, {
      messageId: eventId, correlationId: "c1", replyTo: "amq.rabbitmq.reply-to.abc", contentType: "application/json", deliveryMode: 2,
      userId: "web", timestamp: 1_795_000_000,
      headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "x-beds-code": "internal", "x-beds-reason": "r", "x-beds-broker": "wBroker", "x-beds-time": 1, "x-death": [] }
    }), 1)
    expect(replayProperties(letter.message.properties)).toStrictEqual({
      messageId: eventId, correlationId: "c1", replyTo: "amq.rabbitmq.reply-to.abc", contentType: "application/json", deliveryMode: 2,
      timestamp: 1_795_000_000,
      headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
      mandatory: true
    })
  })

  it("names a dead letter by position (3 or #3) or by id", () => {
    const decode = Schema.decodeUnknownSync(LetterRefFromString)
    expect(decode("3")).toStrictEqual({ _tag: "Position", position: 3 })
    expect(decode("#12")).toStrictEqual({ _tag: "Position", position: 12 })
    expect(decode(eventId)).toStrictEqual({ _tag: "Id", id: eventId })
    expect(() => decode("0")).toThrow()
    expect(() => decode("")).toThrow()
  })

  it("lists in columns, with ages an operator reads at a glance", () => {
    expect([42_000, 192_000, 7_500_000, 356_400_000].map(formatAge)).toStrictEqual(["42s", "3m12s", "2h05m", "4d03h"])
    const letter = decodeDeadLetter(message(body, { messageId: eventId, headers: { "x-beds-code": "internal", "x-beds-reason": "defect", "x-beds-time": 1_000 } }), 1)
    expect(listLines([letter], 43_000)).toStrictEqual([
      `#   code      template.op       age  ${"id".padEnd(eventId.length)}  reason`,
      `#1  internal  customers.create  42s  ${eventId}  defect`
    ])
    expect(JSON.parse(jsonLine(letter, 43_000))).toStrictEqual({
      position: 1, id: eventId, code: "internal", reason: "defect", template: "customers", op: "create", eventId,
      routingKey: "write.customers.create", deadLetteredAt: "1970-01-01T00:00:01.000Z", ageMs: 42_000
    })
  })
})
