import { describe, expect, it } from "@effect/vitest"
import type { Channel, ConsumeMessage, GetMessage } from "amqplib"
import { Effect, Metric, Schedule } from "effect"
import mysql from "mysql2/promise"
import { randomBytes, randomUUID } from "node:crypto"
import { makeEventVerifier } from "../../src/brokers/trust.js"
import type { Reply } from "../../src/protocol/envelope.js"
import { DIRECT_REPLY_TO, EVENTS_EXCHANGE, invalidationKey, LOGS_EXCHANGE } from "../../src/protocol/routing.js"
import { eventSigned, signatureHeaders } from "../../src/protocol/signature.js"
import type { Template } from "../../src/templates/schema.js"
import { brokerQueues } from "../../src/transport/topology.js"
import { fixtureNodeConfig, startFixtureNodes } from "../support/fixture-node.js"
import { drainQueue, rawConnection, scopedVhost } from "../support/rabbit.js"
import { testServices } from "../support/services.js"
import { nodeKeyId, nodeSecret, producerKeyId, producerSecret, signedTrust } from "../support/trust.js"

const services = testServices()
const freshId = () => `tr${randomBytes(6).toString("hex")}`

/** The MariaDB contract fixture, its delete open to admins only, optionally cached. */
const guarded = (templates: ReadonlyArray<Template>, capabilities: Partial<Template["capabilities"]> = {}): Template => {
  const base = templates.find((t) => t.adapter === "mariadb")!
  return {
    ...base,
    operations: { ...base.operations, delete: { ...base.operations.delete!, allow: ["admin"] } },
    capabilities: { ...base.capabilities, ...capabilities }
  }
}

/** A key the node does not know, and one it knows that may vouch only for "user" (config below). */
const strangerSecret = randomBytes(32).toString("base64url")
const limitedSecret = randomBytes(32).toString("base64url")
const trustWithLimitedKey = {
  anonymous_in: [],
  keys: {
    [producerKeyId]: { producer: "tests", secret: producerSecret },
    web_limited: { producer: "web", secret: limitedSecret, roles: ["user"], reply_prefix: "web.replies." }
  },
  node_keys: { [nodeKeyId]: nodeSecret },
  node_key: nodeKeyId
}

interface RawRequest {
  readonly op: string
  readonly route?: string
  readonly data?: Record<string, unknown>
  readonly query?: Record<string, unknown>
  readonly caller?: { readonly id: string; readonly roles: ReadonlyArray<string> }
  /** Signed with this key id and secret (default: unsigned). */
  readonly key?: { readonly id: string; readonly secret: string; readonly signedAt?: number }
  readonly replyTo?: string
  /** Changes the body after it was signed. */
  readonly tamper?: (body: Buffer) => Buffer
}

/**
 * Publishes requests as any producer could, straight on beds.events (signed or not, as it likes),
 * and collects what comes back on direct reply-to.
 */
const rawProducer = (channel: Channel, template: string) =>
  Effect.gen(function*() {
    const replies = new Map<string, Reply>()
    yield* Effect.promise(() =>
      channel.consume(DIRECT_REPLY_TO, (m: ConsumeMessage | null) => {
        if (m !== null) replies.set(m.properties.correlationId, JSON.parse(m.content.toString()))
      }, { noAck: true }))
    const publish = (request: RawRequest) => {
      const route = request.route ?? "write"
      const correlationId = randomUUID()
      const routingKey = `${route}.${template}.${request.op}`
      const body = Buffer.from(JSON.stringify({
        version: 1,
        template,
        op: request.op,
        lineage: { eventId: `raw.dev.${randomUUID()}`, parentId: "", depth: 0 },
        ...(request.data === undefined ? {} : { data: request.data }),
        ...(request.query === undefined ? {} : { query: request.query }),
        ...(request.caller === undefined ? {} : { caller: request.caller })
      }))
      const replyTo = request.replyTo ?? DIRECT_REPLY_TO
      const headers = request.key === undefined ? {} : signatureHeaders(request.key.secret, {
        keyId: request.key.id,
        signedAt: request.key.signedAt ?? Date.now(),
        exchange: EVENTS_EXCHANGE,
        routingKey,
        correlationId,
        replyTo,
        body
      })
      const sent = request.tamper === undefined ? body : request.tamper(body)
      channel.publish(EVENTS_EXCHANGE, routingKey, sent, { correlationId, replyTo, contentType: "application/json", headers })
      return correlationId
    }
    /** Publishes and waits for the reply. */
    const ask = (request: RawRequest) =>
      Effect.gen(function*() {
        const correlationId = publish(request)
        return yield* Effect.sync(() => replies.get(correlationId)).pipe(
          Effect.filterOrFail((reply) => reply !== undefined, () => "no reply yet"),
          Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds"))),
          Effect.orDieWith(() => new Error(`no reply to ${request.op}`))
        )
      })
    return { ask, publish, replies }
  })

const errorCode = (reply: Reply) => (reply.status === "error" ? reply.error.code : "ok")
const errorMessage = (reply: Reply) => (reply.status === "error" ? reply.error.message : "")

const database = Effect.acquireRelease(
  Effect.promise(() =>
    mysql.createConnection({ host: "127.0.0.1", port: 3306, user: services.mariadb.username, password: services.mariadb.password, database: services.mariadb.database })
  ),
  (db) => Effect.promise(() => db.end())
)
const titleOf = (db: mysql.Connection, id: string) =>
  Effect.promise(async () => {
    const [rows] = await db.query("SELECT title FROM crl_items WHERE id = ?", [id])
    return (rows as Array<{ title: string }>)[0]?.title
  })

const rejectedEvents = Effect.map(Metric.snapshot, (pairs) =>
  pairs
    .filter((pair) => pair.metricKey.name === "beds.events.rejected")
    .reduce((sum, pair) => sum + Number((pair.metricState as unknown as { count: number }).count), 0))

/** A node serving the guarded fixture on a vhost of its own, a raw channel there, and a raw producer on it. */
const startNode = (nodeId: string, extra: Record<string, unknown>, capabilities: Partial<Template["capabilities"]> = {}) =>
  Effect.gen(function*() {
    const vhost = yield* scopedVhost
    const { config, templates } = yield* fixtureNodeConfig(vhost, nodeId, "mariadb", extra)
    const template = guarded(templates, capabilities)
    const { client } = yield* startFixtureNodes(vhost, [config], [template])
    const connection = yield* rawConnection(vhost)
    const channel = yield* Effect.promise(() => connection.createChannel())
    const producer = yield* rawProducer(channel, template.name)
    return { template, client, channel, producer }
  })

describe("trust: verified callers, replyTo, limits and signed events", () => {
  it.scopedLive("a caller counts only when a known producer key vouches for it: forged, unknown, altered, old and unsigned requests touch nothing", () =>
    Effect.gen(function*() {
      const { template, channel, producer } = yield* startNode("trust1", { trust: trustWithLimitedKey })
      const db = yield* database
      const tests = { id: producerKeyId, secret: producerSecret }
      const admin = { id: "ops", roles: ["admin"] }

      // A genuine signed create, then the record every forged delete below aims at.
      const id = freshId()
      expect(errorCode(yield* producer.ask({ op: "create", data: { id, title: "kept" }, key: tests }))).toBe("ok")

      // Unsigned, claiming admin: no producer vouches for it.
      const unsigned = yield* producer.ask({ op: "delete", query: { id }, caller: admin })
      expect(errorCode(unsigned)).toBe("unauthenticated")
      expect(errorMessage(unsigned)).toMatch(/not signed/)
      // Signed by a key the node does not know.
      expect(errorMessage(yield* producer.ask({ op: "delete", query: { id }, caller: admin, key: { id: "stranger", secret: strangerSecret } })))
        .toMatch(/unknown key "stranger"/)
      // A known key id with the wrong secret (a forged signature).
      expect(errorMessage(yield* producer.ask({ op: "delete", query: { id }, caller: admin, key: { id: producerKeyId, secret: strangerSecret } })))
        .toMatch(/does not match/)
      // A genuine signature over a body changed afterwards (a caller without roles raised to admin).
      const raised = yield* producer.ask({
        op: "delete",
        query: { id },
        caller: { id: "ops", roles: ["user"] },
        key: tests,
        tamper: (body) => Buffer.from(body.toString().replace(`"roles":["user"]`, `"roles":["admin"]`))
      })
      expect(errorMessage(raised)).toMatch(/does not match/)
      // A genuine signature made ten minutes ago (a replay outside max_clock_skew_s).
      expect(errorMessage(yield* producer.ask({ op: "delete", query: { id }, caller: admin, key: { ...tests, signedAt: Date.now() - 600_000 } })))
        .toMatch(/more than 300 s from now/)
      // A known producer vouching for a role beyond its own.
      const beyond = yield* producer.ask({ op: "delete", query: { id }, caller: admin, key: { id: "web_limited", secret: limitedSecret } })
      expect(errorCode(beyond)).toBe("forbidden")
      expect(errorMessage(beyond)).toBe("producer web may not vouch for role admin")
      // A vouched-for caller without the role the operation needs: the error names the operation, not the roles.
      const notAllowed = yield* producer.ask({ op: "delete", query: { id }, caller: { id: "u1", roles: ["user"] }, key: tests })
      expect(errorCode(notAllowed)).toBe("forbidden")
      expect(errorMessage(notAllowed)).toBe(`caller may not run ${template.name}.delete`)

      // None of it touched the record, and nothing was dead-lettered.
      expect(yield* titleOf(db, id)).toBe("kept")
      expect((yield* Effect.promise(() => channel.checkQueue(brokerQueues("wBroker").deadLetterQueue))).messageCount).toBe(0)
      // The genuine admin, vouched for, deletes it.
      expect(errorCode(yield* producer.ask({ op: "delete", query: { id }, caller: admin, key: tests }))).toBe("ok")
      expect(yield* titleOf(db, id)).toBeUndefined()
    }), { timeout: 60_000 })

  it.scopedLive("replies go only to direct reply-to or a queue the producer may name: a broker queue or another application's queue gets nothing", () =>
    Effect.gen(function*() {
      const { channel, producer } = yield* startNode("trust2", { trust: trustWithLimitedKey })
      const db = yield* database
      // Another application's queue, and the limited producer's own reply queue.
      const otherApp = `other.inbox.${randomUUID()}`
      const own = `web.replies.${randomUUID()}`
      for (const queue of [otherApp, own]) yield* Effect.promise(() => channel.assertQueue(queue, { exclusive: true }))
      const writeQueue = brokerQueues("wBroker")

      const ids = [freshId(), freshId(), freshId(), freshId()]
      const limited = { id: "web_limited", secret: limitedSecret }
      producer.publish({ op: "create", data: { id: ids[0], title: "x" }, key: { id: producerKeyId, secret: producerSecret }, replyTo: writeQueue.queue })
      producer.publish({ op: "create", data: { id: ids[1], title: "x" }, key: limited, replyTo: otherApp })
      producer.publish({ op: "create", data: { id: ids[2], title: "x" }, replyTo: otherApp })
      producer.publish({ op: "create", data: { id: ids[3], title: "x" }, key: limited, replyTo: own })

      // The one with a queue its producer may name is answered there ...
      const answered = yield* Effect.promise(() => channel.get(own, { noAck: true })).pipe(
        Effect.filterOrFail((message) => message !== false, () => "not yet"),
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds")))
      )
      expect(JSON.parse(answered.content.toString())).toMatchObject({ status: "ok" })
      // ... the three others ran nothing, were refused as bad envelopes (dead-lettered, with why), and nobody's queue got a reply.
      // The two signed ones (a producer's mistake for its operators to see) are dead-lettered with why;
      // the unsigned one is unauthenticated before its replyTo counts: nobody is answered, nothing kept.
      const deadLetters: Array<GetMessage> = []
      yield* drainQueue(channel, writeQueue.deadLetterQueue).pipe(
        Effect.map((messages) => deadLetters.push(...messages)),
        Effect.filterOrFail(() => deadLetters.length >= 2, () => `dead letters: ${deadLetters.length}`),
        Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("10 seconds")))
      )
      const reasons = deadLetters.map((m) => String(m.properties.headers?.["x-beds-reason"])).sort()
      expect(reasons).toStrictEqual([
        `replyTo "${writeQueue.queue}" is not a queue producer tests may name`,
        `replyTo "${otherApp}" is not a queue producer web may name`
      ].sort())
      expect(deadLetters.map((m) => m.properties.headers?.["x-beds-code"])).toStrictEqual(["bad_envelope", "bad_envelope"])
      expect((yield* Effect.promise(() => channel.checkQueue(otherApp))).messageCount).toBe(0)
      for (const id of ids.slice(0, 3)) expect(yield* titleOf(db, id!)).toBeUndefined()
      expect(yield* titleOf(db, ids[3]!)).toBe("x")
      expect(producer.replies.size).toBe(0)
    }), { timeout: 60_000 })

  it.scopedLive("limits: an oversized body is refused before it is read; a caller over its rate is told to resend later", () =>
    Effect.gen(function*() {
      const { template, channel, producer } = yield* startNode("trust3", { limits: { max_message_bytes: 4096, requests_per_s: 1, burst: 3 } })
      const tests = { id: producerKeyId, secret: producerSecret }

      // 5000 bytes that are not even JSON: too_large, not bad_envelope, so it was never parsed.
      const correlationId = randomUUID()
      const replies = producer.replies
      channel.publish(EVENTS_EXCHANGE, `write.${template.name}.create`, Buffer.alloc(5000, "{"), { correlationId, replyTo: DIRECT_REPLY_TO })
      const tooLarge = yield* Effect.sync(() => replies.get(correlationId)).pipe(
        Effect.filterOrFail((reply) => reply !== undefined, () => "no reply yet"),
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds")))
      )
      expect(tooLarge).toMatchObject({ status: "error", error: { code: "too_large", retryable: false } })
      expect(errorMessage(tooLarge)).toMatch(/5000 bytes, more than this node takes \(4096\); it was not read/)
      expect((yield* Effect.promise(() => channel.checkQueue(brokerQueues("wBroker").deadLetterQueue))).messageCount).toBe(0)

      // A burst of 3, then 1 per second: of 5 at once, the last ones are refused, retryable.
      const caller = { id: "u-rate", roles: ["user"] }
      const codes = yield* Effect.forEach(Array.from({ length: 5 }), () => producer.ask({ op: "fetch", route: "read", query: { id: "nosuchid" }, caller, key: tests }), {
        concurrency: "unbounded"
      }).pipe(Effect.map((all) => all.map(errorCode)))
      expect(codes.filter((code) => code === "not_found").length).toBeGreaterThanOrEqual(3)
      expect(codes.filter((code) => code === "rate_limited").length).toBeGreaterThanOrEqual(1)
      expect(codes.filter((code) => code !== "not_found" && code !== "rate_limited")).toStrictEqual([])
      // Another caller has a bucket of its own.
      expect(errorCode(yield* producer.ask({ op: "fetch", route: "read", query: { id: "nosuchid" }, caller: { id: "u-other", roles: [] }, key: tests })))
        .toBe("not_found")
    }), { timeout: 60_000 })

  it.scopedLive("events on beds.logs: a forged cache invalidation is dropped and counted, a node-signed one is applied; audit events carry the node's signature", () =>
    Effect.gen(function*() {
      const { template, client, channel } = yield* startNode("trust4", {}, { cache_ttl_s: 300, audit: true })
      const db = yield* database
      const { queue: audits } = yield* Effect.promise(() => channel.assertQueue("", { exclusive: true }))
      yield* Effect.promise(() => channel.bindQueue(audits, LOGS_EXCHANGE, "audit.#"))

      const id = freshId()
      const created = yield* client.request({ template: template.name, op: "create", data: { id, title: "cached" } })
      expect(created.status).toBe("ok")
      const title = client.request({ template: template.name, op: "fetch", query: { id } }).pipe(
        Effect.map((reply) => (reply.status === "ok" ? (reply.data as { title: string }).title : reply.error.code))
      )
      expect(yield* title).toBe("cached")
      yield* Effect.promise(() => db.query("UPDATE crl_items SET title = 'changed underneath' WHERE id = ?", [id]))
      expect(yield* title).toBe("cached")

      // Forged: unsigned, signed with a key no node holds, and a genuine signature on another template.
      const key = invalidationKey(template.name)
      const body = Buffer.from(JSON.stringify({ template: template.name }))
      const rejectedBefore = yield* rejectedEvents
      const signedBy = (keyId: string, secret: string, routingKey: string) =>
        signatureHeaders(secret, eventSigned(keyId, Date.now(), LOGS_EXCHANGE, routingKey, body))
      channel.publish(LOGS_EXCHANGE, key, body)
      channel.publish(LOGS_EXCHANGE, key, body, { headers: signedBy("stranger", strangerSecret, key) })
      channel.publish(LOGS_EXCHANGE, key, body, { headers: signedBy(nodeKeyId, nodeSecret, invalidationKey("other_template")) })
      yield* rejectedEvents.pipe(
        Effect.filterOrFail((count) => count >= rejectedBefore + 3, (count) => `rejected ${count - rejectedBefore}`),
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds")))
      )
      expect(yield* title).toBe("cached")

      // Genuine: signed with a node key, as another node's write publishes it.
      channel.publish(LOGS_EXCHANGE, key, body, { headers: signedBy(nodeKeyId, nodeSecret, key) })
      yield* title.pipe(
        Effect.filterOrFail((seen) => seen === "changed underneath", (seen) => `still cached: ${seen}`),
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds")))
      )

      // The audit event of the create is signed by the node: a consumer's check takes it, and refuses a copy altered in transit.
      const [audit] = yield* drainQueue(channel, audits).pipe(
        Effect.filterOrFail((messages) => messages.length >= 1, () => "no audit event yet"),
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds")))
      )
      const check = makeEventVerifier(signedTrust, Date.now)
      expect(check(audit!)).toBeUndefined()
      expect(check({ ...audit!, content: Buffer.from(audit!.content.toString().replace("trust4", "forged")) })).toBe("signature does not match")
      expect(check({ ...audit!, properties: { ...audit!.properties, headers: {} } })).toBe("unsigned")
    }), { timeout: 60_000 })
})
