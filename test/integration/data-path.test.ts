import { describe, expect, it } from "@effect/vitest"
import type { ConsumeMessage, GetMessage } from "amqplib"
import { Context, Effect, Exit, FastCheck as fc, Fiber, Layer, Logger, LogLevel, Ref, Schedule, Scope } from "effect"
import { execFile } from "node:child_process"
import { randomUUID } from "node:crypto"
import { promisify } from "node:util"
import type { BrokerSpec } from "../../src/brokers/broker.js"
import { BrokerPools, BrokerPoolsLive } from "../../src/brokers/pool.js"
import { BedsClient, BedsClientLive } from "../../src/client/client.js"
import { Reply } from "../../src/protocol/envelope.js"
import { DIRECT_REPLY_TO, EVENTS_EXCHANGE } from "../../src/protocol/routing.js"
import { TracingOff } from "../../src/telemetry/tracing.js"
import { AmqpConnectionLive } from "../../src/transport/connection.js"
import { brokerQueues } from "../../src/transport/topology.js"
import { DispatchCalls, TestDispatchLive } from "../support/dispatch.js"
import { closeConnectionsNamed, drainQueue, queueTypesOf, rabbitConfig, rawConnection, scopedVhost } from "../support/rabbit.js"
import { replyPrefix, SignedTrust, signedHeaders } from "../support/trust.js"

const TRANSIENT_RETRIES = 3
const spec = (type: string, routes: ReadonlyArray<string>, sizing: { instances: number; prefetch: number }): BrokerSpec => ({
  type,
  routes,
  ...sizing,
  queueType: "classic",
  drainTimeoutMs: 5_000,
  retry: { transientRetries: TRANSIENT_RETRIES, retryBaseDelayMs: 5, retryMaxDelayMs: 20 }
})
const nodeName = (vhost: string) => `test node ${vhost}`

/** Broker pools (test dispatch) and a client, both on this test's vhost. */
const nodeLayer = (
  vhost: string,
  specs: ReadonlyArray<BrokerSpec>,
  supervisor = { restartBaseDelayMs: 20, restartMaxDelayMs: 200 },
  // Default: the in-process default (unsigned requests, as dev takes them).
  trust: Layer.Layer<never> = Layer.empty
) =>
  BrokerPoolsLive(specs, supervisor).pipe(
    Layer.provideMerge(TestDispatchLive),
    // Dead letters and reconnects are logged as warnings; these tests provoke hundreds of them.
    Layer.provide(Layer.mergeAll(Logger.minimumLogLevel(LogLevel.Error), TracingOff, trust)),
    Layer.provide(AmqpConnectionLive(rabbitConfig(vhost), { name: nodeName(vhost), connectTimeoutMs: 5_000 }))
  )
const clientLayer = (vhost: string) =>
  BedsClientLive({ rabbitmq: rabbitConfig(vhost), clientId: "testclient", env: "dev", defaultTimeoutMs: 15_000 })

/** Waits (bounded) until every pool has all its instances consuming again (after restarts). */
const awaitPoolsFull = Effect.gen(function*() {
  const pools = yield* BrokerPools
  yield* pools.stats.pipe(
    Effect.filterOrFail((stats) => stats.every((s) => s.consuming === s.instances), () => "pools not full yet"),
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("15 seconds")))
  )
  return pools
})
/** Waits (bounded) for the pools' readiness: every queue declared and bound, every consumer started. */
const awaitReady = Effect.gen(function*() {
  const pools = yield* BrokerPools
  yield* pools.ready.pipe(Effect.timeout("15 seconds"))
  return pools
})

const standardSpecs = [spec("rBroker", ["read"], { instances: 2, prefetch: 64 }), spec("wBroker", ["write"], { instances: 2, prefetch: 32 })]

/** A vhost of the test's own, broker pools consuming on it, and a client: the usual start of a test. */
const startNodeAndClient = (specs: ReadonlyArray<BrokerSpec> = standardSpecs, trust: Layer.Layer<never> = Layer.empty) =>
  Effect.gen(function*() {
    const vhost = yield* scopedVhost
    const context = yield* Layer.build(Layer.merge(nodeLayer(vhost, specs, undefined, trust), clientLayer(vhost)))
    const pools = yield* awaitReady.pipe(Effect.provide(context))
    return { vhost, context, pools, client: Context.get(context, BedsClient) }
  })


describe("the AMQP data path", () => {
  it.scopedLive("10,000 requests with 256 in flight: every request is handled once and answered, matched to it", () =>
    Effect.gen(function*() {
      const { client, context } = yield* startNodeAndClient()

      const replies = yield* Effect.forEach(
        Array.from({ length: 10_000 }, (_, i) => i),
        (i) =>
          client.request(i % 2 === 0
            ? { template: "echo", op: "fetch", query: { i } } // read: fast path
            : { template: "echo", op: "create", data: { i } }), // write: reliable path
        { concurrency: 256 }
      )
      replies.forEach((reply, i) => {
        expect(reply.status).toBe("ok")
        const data = reply.status === "ok" ? reply.data as { op: string; data: { i: number } | null; query: { i: number } | null } : undefined
        expect(i % 2 === 0 ? data?.query?.i : data?.data?.i).toBe(i)
      })
      // Handled once each: no message was processed twice through two bindings or a redelivery.
      expect(yield* Ref.get(Context.get(context, DispatchCalls))).toStrictEqual({ echo: 10_000 })
    }), { timeout: 120_000 })

  it.scopedLive("each error class gets its code, and only the policy's classes are dead-lettered", () =>
    Effect.gen(function*() {
      const { client, context, vhost } = yield* startNodeAndClient()
      const codeOf = (reply: Reply) => reply.status === "error" ? reply.error.code : "ok"

      for (const [template, code] of [["validation", "validation"], ["not_found", "not_found"], ["forbidden", "forbidden"], ["conflict", "conflict"], ["nosuchthing", "not_found"]] as const) {
        const reply = yield* client.request({ template, op: "fetch" })
        expect(codeOf(reply)).toBe(code)
        expect(reply.status === "error" && reply.error.retryable).toBe(false)
        expect(reply.lineage?.depth).toBe(0)
      }
      const late = yield* client.request({ template: "echo", op: "fetch", deadline: Date.now() - 1 })
      expect(codeOf(late)).toBe("deadline_exceeded")
      const parent = { eventId: `testclient.dev.${randomUUID()}`, parentId: "", depth: 0 }
      const child = yield* client.request({ template: "echo", op: "fetch", parent })
      expect(child.lineage).toMatchObject({ parentId: parent.eventId, depth: 1 })

      const raw = yield* rawConnection(vhost)
      const channel = yield* Effect.promise(() => raw.createChannel())
      expect(yield* drainQueue(channel, brokerQueues("rBroker").deadLetterQueue)).toHaveLength(0)

      // Transient: retried the configured number of times, then dead-lettered with an `unavailable` reply.
      const transient = yield* client.request({ template: "transient", op: "update", data: { id: 1 } })
      expect(transient.status === "error" && transient.error).toMatchObject({ code: "unavailable", retryable: true, message: "lock wait timeout" })
      expect((yield* Ref.get(Context.get(context, DispatchCalls)))["transient"]).toBe(1 + TRANSIENT_RETRIES)
      const deadLetters = yield* drainQueue(channel, brokerQueues("wBroker").deadLetterQueue)
      expect(deadLetters).toHaveLength(1)
      expect(deadLetters[0]!.properties.headers).toMatchObject({ "x-beds-code": "unavailable", "x-beds-reason": "lock wait timeout", "x-beds-broker": "wBroker" })
      expect(JSON.parse(deadLetters[0]!.content.toString())).toMatchObject({ template: "transient", op: "update" })
    }), { timeout: 60_000 })

  it.scopedLive.each([
    ["a dispatch that throws synchronously", "throw"],
    ["a dispatch whose Effect dies", "die"],
    ["a reply that cannot be encoded", "unencodable"]
  ] as const)("%s: an internal reply with a reference, exactly one dead letter, exactly one broker replacement, the queue empty", ([, template]) =>
    Effect.gen(function*() {
      const { client, context, pools, vhost } = yield* startNodeAndClient([spec("rBroker", ["read"], { instances: 2, prefetch: 16 })])

      const reply = yield* client.request({ template, op: "fetch" })
      expect(reply.status === "error" && reply.error).toMatchObject({ code: "internal", retryable: false })
      expect(reply.status === "error" && reply.error.message).toBe(`internal error (reference ${reply.lineage!.eventId})`)

      // Replaced once, the pool whole again, and serving.
      yield* pools.stats.pipe(
        Effect.filterOrFail((stats) => stats[0]!.restarts >= 1, () => "no restart yet"),
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds")))
      )
      yield* awaitPoolsFull.pipe(Effect.provide(context))
      const after = yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) => client.request({ template: "echo", op: "fetch", query: { i } }))
      expect(after.every((r) => r.status === "ok")).toBe(true)

      const raw = yield* rawConnection(vhost)
      const channel = yield* Effect.promise(() => raw.createChannel())
      const deadLetters = yield* drainQueue(channel, brokerQueues("rBroker").deadLetterQueue)
      expect(deadLetters.map((m) => [m.properties.headers?.["x-beds-code"], m.properties.headers?.["x-beds-reason"]])).toStrictEqual([
        ["internal", `defect (see the node log for ${reply.lineage!.eventId})`]
      ])
      expect(JSON.parse(deadLetters[0]!.content.toString())).toMatchObject({ template, op: "fetch" })
      // Never redelivered: no second restart, nothing left in the queue.
      expect((yield* pools.stats)[0]).toMatchObject({ instances: 2, consuming: 2, restarts: 1 })
      expect(yield* Effect.promise(() => channel.checkQueue(brokerQueues("rBroker").queue))).toMatchObject({ messageCount: 0, consumerCount: 2 })
    }), { timeout: 60_000 })

  it.scopedLive("defects in a row on one broker: the supervisor's waits grow from the base (20, 40, 80 ms)", () =>
    Effect.gen(function*() {
      const { client, context, pools } = yield* startNodeAndClient([spec("rBroker", ["read"], { instances: 1, prefetch: 4 })])
      for (let i = 1; i <= 3; i++) {
        const reply = yield* client.request({ template: "die", op: "fetch" })
        expect(reply.status === "error" && reply.error.code).toBe("internal")
        yield* pools.stats.pipe(
          Effect.filterOrFail((stats) => stats[0]!.restartDelaysMs.length >= i, () => "not restarted yet"),
          Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("10 seconds")))
        )
        yield* awaitPoolsFull.pipe(Effect.provide(context))
      }
      expect((yield* pools.stats)[0]!.restartDelaysMs).toStrictEqual([20, 40, 80])
    }), { timeout: 60_000 })

  it.scopedLive("bad input (random bytes, random JSON, near-valid envelopes) gets deterministic bad_envelope replies or dead letters; serving goes on", () =>
    Effect.gen(function*() {
      const { client, pools, vhost } = yield* startNodeAndClient()
      const raw = yield* rawConnection(vhost)
      const channel = yield* Effect.promise(() => raw.createChannel())
      // A refusal is answered only on direct reply-to (docs/protocol.md, Error catalog).
      const replyQueue = DIRECT_REPLY_TO
      const replies = new Map<string, Array<Reply>>()
      const uncorrelated: Array<ConsumeMessage> = []
      yield* Effect.promise(() =>
        channel.consume(replyQueue, (message: ConsumeMessage | null) => {
          if (message === null) return
          const id = message.properties.correlationId as string | undefined
          if (id === undefined) return void uncorrelated.push(message)
          replies.set(id, [...(replies.get(id) ?? []), JSON.parse(message.content.toString()) as Reply])
        }, { noAck: true }))

      const valid = () => ({
        version: 1,
        template: "echo",
        op: "fetch",
        lineage: { eventId: `testclient.dev.${randomUUID()}`, parentId: "", depth: 0 }
      })
      const nearValid = fc.oneof(
        fc.constantFrom("version", "template", "op", "lineage").map((key) => { const e: Record<string, unknown> = valid(); delete e[key]; return e }),
        fc.constantFrom(0, 2, "1", null).map((version) => ({ ...valid(), version })),
        fc.string({ maxLength: 12 }).map((eventId) => ({ ...valid(), lineage: { eventId, parentId: "", depth: 0 } })),
        fc.integer({ min: 1, max: 64 }).map((depth) => ({ ...valid(), lineage: { ...valid().lineage, depth } })),
        fc.constantFrom("drop table", "1abc", "a.b", "$where", "").map((template) => ({ ...valid(), template })),
        fc.string({ minLength: 1, maxLength: 8 }).map((extra) => ({ ...valid(), [`x_${extra}`]: 1 })),
        // (An object such as {"$gt": ""} is a valid query here: operator-looking data is the adapter's to bind as data.)
        fc.constantFrom([1, 2], "text", 7).map((query) => ({ ...valid(), query }))
      ).map((body) => Buffer.from(JSON.stringify(body)))
      const inputs = fc.sample(
        fc.oneof(fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)), fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v))), nearValid),
        90
      )

      // Each input is published twice with a replyTo; a third copy without replyTo, and a fourth without
      // correlationId (a reply no client could match), can only be dead-lettered.
      const ids = inputs.map((content) => {
        const id = randomUUID()
        for (const copy of ["a", "b"]) {
          channel.publish(EVENTS_EXCHANGE, "read.echo.fetch", content, { correlationId: `${id}.${copy}`, replyTo: replyQueue, contentType: "application/json" })
        }
        channel.publish(EVENTS_EXCHANGE, "read.echo.fetch", content, { correlationId: `${id}.c` })
        channel.publish(EVENTS_EXCHANGE, "read.echo.fetch", content, { replyTo: replyQueue, messageId: `${id}.d` })
        return id
      })
      yield* Effect.sync(() => replies.size >= ids.length * 2).pipe(
        Effect.filterOrFail((done) => done, () => "waiting for replies"),
        Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("20 seconds")))
      )
      ids.forEach((id, index) => {
        const [first, second] = [replies.get(`${id}.a`)!, replies.get(`${id}.b`)!]
        expect(first, `input ${index}: ${inputs[index]!.toString("hex")}`).toHaveLength(1)
        expect(second).toHaveLength(1)
        expect(first[0]!.status === "error" && first[0]!.error.code).toBe("bad_envelope")
        // Deterministic: the same input gets the same code and the same message.
        expect(second[0]).toStrictEqual(first[0])
      })
      expect(replies.has(`${ids[0]}.c`)).toBe(false)

      const deadLetters = yield* drainQueue(channel, brokerQueues("rBroker").deadLetterQueue)
      expect(deadLetters).toHaveLength(inputs.length * 4)
      for (const letter of deadLetters) {
        expect(letter.properties.headers?.["x-beds-code"]).toBe("bad_envelope")
        const reason = letter.properties.headers?.["x-beds-reason"]
        const correlationId = letter.properties.correlationId as string | undefined
        if (correlationId === undefined) expect(reason).toBe("no correlationId property: a reply could not be matched to its request")
        else if (correlationId.endsWith(".c")) expect(reason).toBe("no replyTo property: a request needs somewhere to send its reply")
        // The dead letter's reason is the one the caller was told.
        else expect(reason).toBe((replies.get(correlationId)![0] as Extract<Reply, { status: "error" }>).error.message)
      }
      expect(deadLetters.filter((m) => m.properties.correlationId === undefined)).toHaveLength(inputs.length)
      expect(uncorrelated).toHaveLength(0)

      // The brokers kept serving throughout: nothing restarted, valid requests answered.
      expect((yield* pools.stats).every((s) => s.restarts === 0 && s.consuming === s.instances)).toBe(true)
      const after = yield* Effect.forEach(Array.from({ length: 50 }, (_, i) => i), (i) => client.request({ template: "echo", op: "fetch", query: { i } }), { concurrency: 10 })
      expect(after.every((r) => r.status === "ok")).toBe(true)
    }), { timeout: 60_000 })

  it.scopedLive("a reliable request whose replyTo is a durable queue: each reply is stored there, persistent", () =>
    Effect.gen(function*() {
      // Signed with a key whose reply_prefix names that queue: only then may a request name it.
      const { vhost } = yield* startNodeAndClient(standardSpecs, SignedTrust)
      const raw = yield* rawConnection(vhost)
      const channel = yield* Effect.promise(() => raw.createConfirmChannel())
      const replyQueue = `${replyPrefix}${randomUUID()}`
      yield* Effect.promise(() => channel.assertQueue(replyQueue, { durable: true }))
      const requests = Array.from({ length: 20 }, (_, i) => ({
        correlationId: randomUUID(),
        body: { version: 1, template: "echo", op: "create", data: { i }, lineage: { eventId: `testclient.dev.${randomUUID()}`, parentId: "", depth: 0 } }
      }))
      for (const request of requests) {
        const body = Buffer.from(JSON.stringify(request.body))
        channel.publish(EVENTS_EXCHANGE, "write.echo.create", body, {
          correlationId: request.correlationId,
          replyTo: replyQueue,
          contentType: "application/json",
          persistent: true,
          headers: signedHeaders("write.echo.create", request.correlationId, replyQueue, body)
        })
      }
      yield* Effect.promise(() => channel.waitForConfirms())
      const replies: Array<GetMessage> = []
      yield* drainQueue(channel, replyQueue).pipe(
        Effect.map((messages) => replies.push(...messages)),
        Effect.filterOrFail(() => replies.length >= requests.length, () => "replies still arriving"),
        Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("15 seconds")))
      )
      expect(replies.map((m) => m.properties.correlationId).sort()).toStrictEqual(requests.map((r) => r.correlationId).sort())
      for (const reply of replies) {
        expect(reply.properties.deliveryMode).toBe(2)
        expect((JSON.parse(reply.content.toString()) as Reply).status).toBe("ok")
      }
      yield* Effect.promise(() => channel.deleteQueue(replyQueue))
    }), { timeout: 60_000 })

  it.scopedLive("the node's connection closed from the server mid-load: it reconnects, and every request is answered", () =>
    Effect.gen(function*() {
      const { client, context, vhost } = yield* startNodeAndClient()
      const answered = yield* Ref.make(0)

      const load = yield* Effect.forEach(
        Array.from({ length: 3_000 }, (_, i) => i),
        (i) => client.request({ template: "echo", op: i % 3 === 0 ? "create" : "fetch", ...(i % 3 === 0 ? { data: { i } } : { query: { i } }) }).pipe(
          Effect.tap(() => Ref.update(answered, (n) => n + 1))
        ),
        { concurrency: 64 }
      ).pipe(Effect.fork)
      yield* Ref.get(answered).pipe(Effect.filterOrFail((n) => n >= 500, () => "warming up"), Effect.retry(Schedule.spaced("10 millis").pipe(Schedule.upTo("20 seconds"))))
      expect(yield* closeConnectionsNamed(vhost, nodeName(vhost))).toBe(1)

      const replies = yield* Fiber.join(load)
      expect(replies).toHaveLength(3_000)
      expect(replies.every((r) => r.status === "ok")).toBe(true)
      // At least every request once; those unacked at the drop were delivered again.
      expect((yield* Ref.get(Context.get(context, DispatchCalls)))["echo"]).toBeGreaterThanOrEqual(3_000)
      const pools = Context.get(context, BrokerPools)
      expect((yield* pools.stats).every((s) => s.restarts >= 1)).toBe(true)
    }), { timeout: 90_000 })

  it.scopedLive("five connection losses a few seconds apart: after each reconnect every broker restarts after the base delay", () =>
    Effect.gen(function*() {
      const vhost = yield* scopedVhost
      // A cap far above the test's length: only the lost-connection rule can bring the wait back to the base.
      const context = yield* Layer.build(Layer.merge(
        nodeLayer(vhost, standardSpecs, { restartBaseDelayMs: 30, restartMaxDelayMs: 60_000 }),
        clientLayer(vhost)
      ))
      const pools = yield* awaitReady.pipe(Effect.provide(context))
      const client = Context.get(context, BedsClient)
      for (let loss = 1; loss <= 5; loss++) {
        expect(yield* closeConnectionsNamed(vhost, nodeName(vhost))).toBe(1)
        yield* pools.stats.pipe(
          Effect.filterOrFail((stats) => stats.every((s) => s.restartDelaysMs.length === loss * s.instances), () => "brokers not restarted yet"),
          Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds")))
        )
        yield* awaitPoolsFull.pipe(Effect.provide(context))
        expect((yield* client.request({ template: "echo", op: "fetch", query: { loss } })).status).toBe("ok")
        yield* Effect.sleep("1 second")
      }
      for (const stats of yield* pools.stats) {
        expect(stats.restarts).toBe(5 * stats.instances)
        expect(stats.restartDelaysMs).toStrictEqual(Array(5 * stats.instances).fill(30))
      }
    }), { timeout: 120_000 })

  it.scopedLive("readiness: once the pools say ready, a mandatory publish on every route reaches a queue (nothing returned)", () =>
    Effect.gen(function*() {
      const vhost = yield* scopedVhost
      const raw = yield* rawConnection(vhost)
      const channel = yield* Effect.promise(() => raw.createChannel())
      const replyQueue = DIRECT_REPLY_TO
      const returned: Array<unknown> = []
      channel.on("return", (message) => returned.push(message))
      let answered = 0
      yield* Effect.promise(() => channel.consume(replyQueue, () => void answered++, { noAck: true }))

      const context = yield* Layer.build(nodeLayer(vhost, standardSpecs))
      yield* awaitReady.pipe(Effect.provide(context))
      // At once: no wait, no retry.
      for (let i = 0; i < 50; i++) {
        for (const [key, op] of [["read.echo.fetch", "fetch"], ["write.echo.create", "create"]] as const) {
          const body = { version: 1, template: "echo", op, lineage: { eventId: `testclient.dev.${randomUUID()}`, parentId: "", depth: 0 } }
          channel.publish(EVENTS_EXCHANGE, key, Buffer.from(JSON.stringify(body)), {
            correlationId: randomUUID(),
            replyTo: replyQueue,
            contentType: "application/json",
            mandatory: true
          })
        }
      }
      yield* Effect.sync(() => answered + returned.length).pipe(
        Effect.filterOrFail((n) => n >= 100, () => "waiting for replies"),
        Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("15 seconds")))
      )
      expect(returned).toHaveLength(0)
      expect(answered).toBe(100)
    }), { timeout: 60_000 })

  it.scopedLive("the client's connection closed from the server: pending requests fail fast, later ones are answered", () =>
    Effect.gen(function*() {
      const { client, vhost } = yield* startNodeAndClient()

      // Slow enough that no reply can come before the close: rabbitmqctl alone takes 1-2 s here.
      const pending = yield* Effect.forEach(
        Array.from({ length: 10 }, () => client.request({ template: "slow", op: "fetch", data: { ms: 6_000 }, timeoutMs: 15_000 })),
        (request) => Effect.fork(Effect.either(request))
      )
      yield* Effect.sleep("300 millis")
      expect(yield* closeConnectionsNamed(vhost, "beds client testclient")).toBe(1)
      const outcomes = yield* Effect.forEach(pending, (fiber) => fiber.await.pipe(Effect.flatten))
      for (const outcome of outcomes) {
        // Failed with the typed disconnect, not by running into the 15 s timeout.
        expect(outcome._tag === "Left" && outcome.left._tag).toBe("ClientDisconnected")
      }
      const later = yield* client.request({ template: "echo", op: "fetch", timeoutMs: 10_000 })
      expect(later.status).toBe("ok")
    }), { timeout: 60_000 })

  it.scopedLive("with queue_type quorum, the broker and dead-letter queues are quorum queues and serve", () =>
    Effect.gen(function*() {
      const { client, vhost } = yield* startNodeAndClient([{ ...spec("rBroker", ["read"], { instances: 1, prefetch: 8 }), queueType: "quorum" }])
      const reply = yield* client.request({ template: "echo", op: "fetch", query: { q: 1 } })
      expect(reply.status).toBe("ok")
      const types = yield* queueTypesOf(vhost)
      expect(types).toMatchObject({ "beds.rBroker": "quorum", "beds.rBroker.dlq": "quorum" })
    }), { timeout: 30_000 })

  it.scopedLive("shutdown drains: in-flight messages finish and are answered, the rest stay in the queue", () =>
    Effect.gen(function*() {
      const vhost = yield* scopedVhost
      const client = Context.get(yield* Layer.build(clientLayer(vhost)), BedsClient)
      const nodeScope = yield* Scope.make()
      const node = yield* Layer.buildWithScope(nodeLayer(vhost, [spec("rBroker", ["read"], { instances: 1, prefetch: 4 })]), nodeScope)
      yield* awaitPoolsFull.pipe(Effect.provide(node))

      const requests = yield* Effect.forEach(
        Array.from({ length: 10 }, (_, i) => i),
        (i) => Effect.fork(Effect.either(client.request({ template: "slow", op: "fetch", data: { ms: 800, i }, timeoutMs: 4_000 }))),
      )
      yield* Effect.sleep("300 millis") // the first four are in flight now
      yield* Scope.close(nodeScope, Exit.void)

      const outcomes = yield* Effect.forEach(requests, (fiber) => fiber.await.pipe(Effect.flatten))
      const answered = outcomes.filter((o) => o._tag === "Right")
      expect(answered).toHaveLength(4)
      expect(answered.every((o) => o._tag === "Right" && o.right.status === "ok")).toBe(true)
      expect(outcomes.filter((o) => o._tag === "Left" && o.left._tag === "ClientTimeout")).toHaveLength(6)
      const raw = yield* rawConnection(vhost)
      const channel = yield* Effect.promise(() => raw.createChannel())
      const { messageCount } = yield* Effect.promise(() => channel.checkQueue(brokerQueues("rBroker").queue))
      expect(messageCount).toBe(6)
    }), { timeout: 60_000 })
})


describe("docs/protocol.md", () => {
  it.scopedLive("its worked example (docs/examples/request.mjs, plain amqplib) gets its reply", () =>
    Effect.gen(function*() {
      const vhost = yield* scopedVhost
      const context = yield* Layer.build(nodeLayer(vhost, standardSpecs))
      yield* awaitPoolsFull.pipe(Effect.provide(context))
      const { stdout } = yield* Effect.promise(() =>
        promisify(execFile)(process.execPath, ["docs/examples/request.mjs"], {
          env: { ...process.env, AMQP_URL: `amqp://guest:guest@127.0.0.1:5672/${encodeURIComponent(vhost)}` }
        }))
      const reply = JSON.parse(stdout)
      expect(reply).toMatchObject({ version: 1, status: "ok", data: { template: "echo", op: "fetch", query: { id: 42 } }, lineage: { parentId: "", depth: 0 } })
    }), { timeout: 30_000 })
})
