import { describe, expect, it } from "@effect/vitest"
import type { ConsumeMessage } from "amqplib"
import { Redacted } from "effect"
import { makeVerifier } from "../../src/brokers/trust.js"
import { resignReplay } from "../../src/cli/resign.js"
import { anonymousTrust, type TrustSettings } from "../../src/config/trust.js"
import type { Request } from "../../src/protocol/envelope.js"
import { canonicalText, sign, signatureHeaders, verify } from "../../src/protocol/signature.js"

// The worked example of docs/protocol.md (Trust): a client in another language checks itself on it.
const example = {
  keyId: "web_2026a",
  signedAt: 1795867200000,
  exchange: "beds.events",
  routingKey: "write.customers.create",
  correlationId: "c-1",
  replyTo: "amq.rabbitmq.reply-to",
  body: Buffer.from(`{"version":1}`)
}

describe("request signatures", () => {
  it("the canonical text and signature of the protocol's worked example (also computed with openssl)", () => {
    expect(canonicalText(example)).toBe(
      "beds-v1\nweb_2026a\n1795867200000\nbeds.events\nwrite.customers.create\nc-1\namq.rabbitmq.reply-to\n" +
        "2430f1a2ad2982d0067885488a4c89e21ad1d7c83b115ba8f1b20acc88dfaea8"
    )
    expect(sign("k3y", example)).toBe("n_sBc1BdA-ItTLMtBkoBftPSH0zxgdFiAqNzMILWNRo")
  })

  it("a signature holds only for what was signed, under its own key", () => {
    const signature = sign("k3y", example)
    expect(verify("k3y", example, signature)).toBe(true)
    expect(verify("other", example, signature)).toBe(false)
    for (const changed of [
      { ...example, body: Buffer.from(`{"version":2}`) },
      { ...example, routingKey: "write.customers.delete" },
      { ...example, correlationId: "c-2" },
      { ...example, replyTo: "beds.wBroker" },
      { ...example, signedAt: example.signedAt + 1 },
      { ...example, keyId: "web_2026b" }
    ]) expect(verify("k3y", changed, signature)).toBe(false)
    expect(verify("k3y", example, signature.slice(1))).toBe(false)
  })
})

describe("the node's verdict on a request", () => {
  const now = example.signedAt
  const request: Request = {
    version: 1,
    template: "customers",
    op: "create",
    lineage: { eventId: "web.dev.1", parentId: "", depth: 0 },
    caller: { id: "u1", roles: ["admin"] }
  }
  const delivery = (headers: Record<string, unknown>, replyTo = "amq.rabbitmq.reply-to.g1h2") =>
    ({
      content: example.body,
      fields: { exchange: example.exchange, routingKey: example.routingKey },
      properties: { headers, replyTo, correlationId: example.correlationId }
    }) as unknown as ConsumeMessage
  const trust = (keys: TrustSettings["trust"]["keys"], anonymous = false): TrustSettings => ({
    ...anonymousTrust,
    trust: { ...anonymousTrust.trust, anonymous, keys }
  })
  const key = { producer: "web", secret: Redacted.make("k3y") }

  it("signed with a known key: trusted, caller kept; direct reply-to as RabbitMQ delivers it is the name the producer signed", () => {
    const verdict = makeVerifier(trust({ web_2026a: key }), () => now)(delivery(signatureHeaders("k3y", example)), request, "amq.rabbitmq.reply-to.g1h2", "c-1")
    expect(verdict).toStrictEqual({ _tag: "Trusted", request, keyId: "web_2026a" })
  })

  it("unsigned: unauthenticated, or (anonymous on) trusted with its caller removed", () => {
    expect(makeVerifier(trust({}), () => now)(delivery({}), request, "amq.rabbitmq.reply-to.x", "c-1")._tag).toBe("Unauthenticated")
    const { caller: _caller, ...anonymous } = request
    expect(makeVerifier(trust({}, true), () => now)(delivery({}), request, "amq.rabbitmq.reply-to.x", "c-1"))
      .toStrictEqual({ _tag: "Trusted", request: anonymous, keyId: undefined })
  })

  it("headers of the wrong types are unauthenticated, not a crash", () => {
    const verdict = makeVerifier(trust({ web_2026a: key }), () => now)(
      delivery({ "x-beds-key": "web_2026a", "x-beds-signed-at": String(now), "x-beds-signature": 7 }),
      request,
      "amq.rabbitmq.reply-to.x",
      "c-1"
    )
    expect(verdict).toMatchObject({ _tag: "Unauthenticated", reason: expect.stringMatching(/x-beds-signed-at \(a number\)/) })
  })

  it("a producer limited to some roles cannot vouch for others; a replyTo outside its prefix is refused", () => {
    const limited = { ...key, roles: ["user"], reply_prefix: "web.replies." }
    const verify = makeVerifier(trust({ web_2026a: limited }), () => now)
    expect(verify(delivery(signatureHeaders("k3y", example)), request, "amq.rabbitmq.reply-to.x", "c-1"))
      .toStrictEqual({ _tag: "Forbidden", reason: "producer web may not vouch for role admin" })
    const own = { ...example, replyTo: "web.replies.7" }
    const user = { ...request, caller: { id: "u1", roles: ["user"] } }
    expect(verify(delivery(signatureHeaders("k3y", own), "web.replies.7"), user, "web.replies.7", "c-1")._tag).toBe("Trusted")
    const other = { ...example, replyTo: "beds.wBroker" }
    expect(verify(delivery(signatureHeaders("k3y", other), "beds.wBroker"), user, "beds.wBroker", "c-1")._tag).toBe("ReplyToRefused")
  })
})

describe("a replay's signature (beds dlq replay)", () => {
  const keys = { web_2026a: { producer: "web", secret: Redacted.make("k3y") } }
  const original = {
    routingKey: example.routingKey,
    content: example.body,
    // As RabbitMQ delivered it: direct reply-to with its token.
    properties: { correlationId: "c-1", replyTo: "amq.rabbitmq.reply-to.g1h2", headers: signatureHeaders("k3y", example) }
  } as unknown as Parameters<typeof resignReplay>[1]
  const later = example.signedAt + 86_400_000

  it("a signature that holds is made again now, with the same key, for where the replay goes", () => {
    const resigned = resignReplay(keys, original, { ...original.properties, replyTo: "amq.rabbitmq.reply-to" }, later)
    expect(resigned._tag).toBe("Resigned")
    const headers = resigned.properties.headers as Record<string, unknown>
    expect(headers["x-beds-signed-at"]).toBe(later)
    expect(verify("k3y", { ...example, signedAt: later }, headers["x-beds-signature"] as string)).toBe(true)
  })

  it("unsigned stays unsigned; an altered body, a forged signature or a key the config lacks is not signed again", () => {
    const { headers: _headers, ...unsignedProperties } = original.properties
    expect(resignReplay(keys, { ...original, properties: { ...unsignedProperties, headers: {} } }, {}, later)._tag).toBe("Unsigned")
    expect(resignReplay(keys, { ...original, content: Buffer.from(`{"version":2}`) }, {}, later)).toMatchObject({
      _tag: "NotResigned",
      reason: expect.stringMatching(/does not hold/)
    })
    const forged = { ...original, properties: { ...original.properties, headers: signatureHeaders("guess", example) } }
    expect(resignReplay(keys, forged, {}, later)._tag).toBe("NotResigned")
    expect(resignReplay({}, original, {}, later)).toMatchObject({ _tag: "NotResigned", reason: expect.stringMatching(/this config does not hold/) })
  })
})
