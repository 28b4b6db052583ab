import { describe, expect, it } from "@effect/vitest"
import type { ConsumeMessage } from "amqplib"
import { FastCheck as fc } from "effect"
import { decodeDelivery } from "../../src/brokers/ingress.js"

const validBody = {
  version: 1,
  template: "users",
  op: "fetch",
  query: { id: 7 },
  lineage: { eventId: "web1.prod.0b7e2f5a-1c2d-4e5f-8a9b-0c1d2e3f4a5b", parentId: "", depth: 0 }
}
const delivery = (content: Buffer, properties: Partial<ConsumeMessage["properties"]> = {}, routingKey = "read.users.fetch") =>
  ({
    content,
    fields: { routingKey, deliveryTag: 1, redelivered: false, exchange: "beds.events", consumerTag: "c" },
    properties: { correlationId: "c-1", replyTo: "amq.rabbitmq.reply-to.x", contentType: "application/json", headers: {}, ...properties }
  }) as unknown as ConsumeMessage
const json = (value: unknown) => Buffer.from(JSON.stringify(value))

describe("decodeDelivery", () => {
  it("accepts a valid envelope, keeping what the reply needs", () => {
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    const result = decodeDelivery(delivery(json(validBody), { deliveryMode: 2, headers: { traceparent } }))
    expect(result).toMatchObject({ _tag: "Accepted", correlationId: "c-1", replyTo: "amq.rabbitmq.reply-to.x", persistent: true, traceparent })
    expect(result._tag === "Accepted" && result.request.query).toStrictEqual({ id: 7 })
  })

  it.prop("is deterministic and refuses whatever is not a v1 envelope: random bytes", [fc.uint8Array({ maxLength: 200 })], ([bytes]) => {
    const first = decodeDelivery(delivery(Buffer.from(bytes)))
    expect(first._tag).toBe("Refused")
    expect(decodeDelivery(delivery(Buffer.from(bytes)))).toStrictEqual(first)
  })

  it.prop("is deterministic and refuses whatever is not a v1 envelope: random JSON", [fc.jsonValue()], ([value]) => {
    const first = decodeDelivery(delivery(json(value)))
    expect(first._tag).toBe("Refused")
    expect(decodeDelivery(delivery(json(value)))).toStrictEqual(first)
  })

  it("a reason is well-formed Unicode: the reply and the dead letter's UTF-8 header say the same", () => {
    // JSON.parse names the bad token by one UTF-16 unit: here half of the astral character U+7A0F1
    const result = decodeDelivery(delivery(Buffer.from([0xf1, 0xba, 0x83, 0xb1, 0x37])))
    const reason = result._tag === "Refused" ? result.reason : ""
    expect(reason).toMatch(/^body is not UTF-8 JSON: /)
    expect(Buffer.from(reason, "utf8").toString("utf8")).toBe(reason)
  })

  it("names what is wrong", () => {
    const reason = (content: Buffer, properties = {}, key?: string) => {
      const result = decodeDelivery(delivery(content, properties, key))
      return result._tag === "Refused" ? result.reason : "accepted"
    }
    expect(reason(json(validBody), { replyTo: undefined })).toBe("no replyTo property: a request needs somewhere to send its reply")
    expect(reason(json(validBody), { correlationId: undefined })).toBe("no correlationId property: a reply could not be matched to its request")
    expect(reason(json(validBody), { contentType: "text/plain" })).toBe("contentType \"text/plain\" is not application/json")
    expect(reason(Buffer.from([0xff, 0xfe]))).toMatch(/^body is not UTF-8 JSON: /)
    expect(reason(json([1]))).toBe("body: (top level): expected a v1 request envelope (JSON object), found an array")
    expect(reason(json({ ...validBody, version: 2 }))).toBe("body: version: expected 1, found 2")
    expect(reason(json({ ...validBody, template: "users; DROP TABLE x" }))).toMatch(/^body: template: expected an identifier/)
    expect(reason(json({ ...validBody, extra: true }))).toBe("body: extra: unknown key (found true)")
    expect(reason(json({ ...validBody, lineage: { ...validBody.lineage, extra: 1 } }))).toBe("body: lineage.extra: unknown key (found 1)")
    expect(reason(json({ ...validBody, caller: { id: "u1", roles: [], extra: "x" } }))).toBe("body: caller.extra: unknown key (found \"x\")")
    // Keys inside data and query are the template's to judge, not the envelope's.
    expect(reason(json({ ...validBody, query: { id: 7, anything: 1 } }))).toBe("accepted")
    expect(reason(json({ ...validBody, lineage: { ...validBody.lineage, depth: 2 } }))).toBe(
      "body: lineage: expected parentId \"\" exactly when depth is 0, found an object"
    )
    // A write cannot ride the read route (and so the fast path) by naming another op in its body.
    expect(reason(json({ ...validBody, op: "delete" }))).toBe("routing key \"read.users.fetch\" does not match template users op delete")
  })

  it("contentType: absent or application/json (any case, a utf-8 charset allowed) is JSON; anything else is refused", () => {
    const tagOf = (contentType: string | undefined) => decodeDelivery(delivery(json(validBody), { contentType }))._tag
    expect(tagOf(undefined)).toBe("Accepted")
    expect(tagOf("application/json")).toBe("Accepted")
    expect(tagOf("Application/JSON")).toBe("Accepted")
    expect(tagOf("application/json; charset=utf-8")).toBe("Accepted")
    expect(tagOf("application/json;charset=\"UTF-8\"")).toBe("Accepted")
    expect(decodeDelivery(delivery(json(validBody), { contentType: "application/json; charset=iso-8859-1" }))).toMatchObject({
      _tag: "Refused",
      reason: "contentType \"application/json; charset=iso-8859-1\": the body is read as UTF-8, not iso-8859-1"
    })
    expect(tagOf("application/jsonp")).toBe("Refused")
    expect(tagOf("text/json")).toBe("Refused")
  })

  it("a body with a UTF-8 byte-order mark is refused, saying so", () => {
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json(validBody)])
    expect(decodeDelivery(delivery(withBom))).toMatchObject({
      _tag: "Refused",
      reason: "body starts with a byte-order mark: send UTF-8 JSON without one"
    })
  })

  it("a refusal is answered only when it can be matched: without a correlationId there is no replyTo to answer", () => {
    expect(decodeDelivery(delivery(json(validBody), { correlationId: undefined }))).toMatchObject({ _tag: "Refused", replyTo: undefined })
    expect(decodeDelivery(delivery(json({ ...validBody, version: 2 })))).toMatchObject({ _tag: "Refused", replyTo: "amq.rabbitmq.reply-to.x", correlationId: "c-1" })
  })

  it("a refusal carries the request's lineage when the body had a valid one", () => {
    const lineageOf = (body: unknown) => {
      const result = decodeDelivery(delivery(json(body)))
      return result._tag === "Refused" ? result.lineage : "accepted"
    }
    expect(lineageOf({ ...validBody, version: 2 })).toStrictEqual(validBody.lineage)
    expect(lineageOf({ ...validBody, extra: 1 })).toStrictEqual(validBody.lineage)
    expect(lineageOf({ ...validBody, op: "delete" })).toStrictEqual(validBody.lineage)
    expect(lineageOf({ ...validBody, lineage: { eventId: "nope", parentId: "", depth: 0 } })).toBeUndefined()
    expect(lineageOf([1])).toBeUndefined()
  })

  it("ignores an invalid traceparent instead of refusing the request", () => {
    const result = decodeDelivery(delivery(json(validBody), { headers: { traceparent: "nonsense" } }))
    expect(result).toMatchObject({ _tag: "Accepted", traceparent: undefined, persistent: false })
  })
})
