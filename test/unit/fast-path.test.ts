import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { randomUUID } from "node:crypto"
import { makeDeliveryHandler } from "../../src/brokers/delivery.js"
import { makeEntry } from "../../src/brokers/entry.js"
import { makeObserver } from "../../src/brokers/observe.js"
import { makeSettler } from "../../src/brokers/reply.js"
import { anonymousTrust } from "../../src/config/trust.js"
import { Dispatch } from "../../src/core/dispatch.js"
import { alreadyDone } from "../../src/kernel/already-done.js"
import type { Request } from "../../src/protocol/envelope.js"
import { delivery, recordingChannels } from "../support/deliveries.js"
import { fixtureTemplates, memoryFactoryLayer } from "../support/factory.js"

// The fast path is a contract (core/dispatch.ts, kernel/already-done.ts): these tests fail if a
// cached fetch through the real factory stops being already done, or if the message path forks a
// fiber for one.

const lineage = () => ({ eventId: `unit.dev.${randomUUID()}`, parentId: "", depth: 0 })
const fetchRequest = (id: string, fields: Partial<Request> = {}): Request =>
  ({ version: 1, template: "contract_rel", op: "fetch", query: { id }, lineage: lineage(), ...fields })
/** The real factory over the in-memory store, with the fixture template cached for a minute, and one record in it. */
const cachedFactory = Effect.gen(function*() {
  const rel = (yield* fixtureTemplates).find((t) => t.name === "contract_rel")!
  const cached = { ...rel, capabilities: { ...rel.capabilities, cache_ttl_s: 60 } }
  const dispatch = yield* Dispatch.pipe(Effect.provide(memoryFactoryLayer([cached])))
  yield* dispatch.run({ version: 1, template: "contract_rel", op: "create", data: { id: "abcdefgh", title: "cached" }, lineage: lineage() }, "write")
  return dispatch
})

const options = { transientRetries: 2, retryBaseDelayMs: 5, retryMaxDelayMs: 20, now: () => Date.now(), trust: anonymousTrust }
/** The broker's observer with tracing off, as a node without tracing has it. */
const observer = makeObserver({ pool: "rBroker", queue: "beds.rBroker", tracer: undefined, sampleRatio: 0 })

describe("the fast path", () => {
  it("rests on Effect 3's representation: succeed, fail and die are already done; anything built on them is not", () => {
    expect(alreadyDone(Effect.succeed(1))).toStrictEqual(Exit.succeed(1))
    expect(alreadyDone(Effect.fail("e"))?._tag).toBe("Failure")
    expect(alreadyDone(Effect.map(Effect.succeed(1), (n) => n + 1))).toBeUndefined()
    expect(alreadyDone(Effect.sync(() => 1))).toBeUndefined()
  })

  it.effect("a cached fetch through the real factory is already done; the miss before it was not", () =>
    Effect.gen(function*() {
      const dispatch = yield* cachedFactory
      const miss = dispatch.run(fetchRequest("abcdefgh"), "read")
      expect(alreadyDone(miss)).toBeUndefined()
      yield* miss
      const hit = dispatch.run(fetchRequest("abcdefgh"), "read")
      expect(alreadyDone(hit)).toStrictEqual(Exit.succeed({ id: "abcdefgh", title: "cached", count: null, score: null, flag: null, version: 1 }))
    }))

  it.effect("the broker settles a cache hit in the consume callback: no fiber, reply and ack before handle returns (with a deadline too)", () =>
    Effect.gen(function*() {
      const dispatch = yield* cachedFactory
      yield* dispatch.run(fetchRequest("abcdefgh"), "read") // fills the cache
      const { channels, sent } = recordingChannels()
      let forks = 0
      let ended = 0
      const handle = makeDeliveryHandler(makeEntry(dispatch, options), makeSettler({ brokerType: "rBroker", deadLetterExchange: "dlx" }), channels, observer, {
        fork: () => void forks++,
        ended: () => void ended++
      })

      handle(delivery(fetchRequest("abcdefgh")))
      handle(delivery(fetchRequest("abcdefgh", { deadline: Date.now() + 60_000 })))
      expect(forks).toBe(0)
      expect(ended).toBe(2)
      expect(sent).toHaveLength(4)
      expect(sent[0]).toMatch(/^publish \|amq\.rabbitmq\.reply-to\.x \{"version":1,"status":"ok","data":\{"id":"abcdefgh","title":"cached"/)
      expect(sent[1]).toBe("ack")

      // A miss needs the store: one fiber.
      handle(delivery(fetchRequest("zzzzzzzz")))
      expect(forks).toBe(1)
    }))

  it.effect("a passed deadline is answered at the entry without asking the dispatch", () =>
    Effect.gen(function*() {
      let asked = 0
      const entry = makeEntry({ run: () => (asked++, Effect.succeed("never")), mutates: () => false }, options)
      expect(entry(delivery(fetchRequest("abcdefgh", { deadline: Date.now() - 1 })))).toMatchObject({
        _tag: "Now",
        outcome: { _tag: "Failed", code: "deadline_exceeded", message: "the request's deadline passed before it was done" }
      })
      expect(asked).toBe(0)
    }))

  it.effect("a dispatch that throws is a defect outcome at the entry, settled as one: dead letter, internal reply, ack", () =>
    Effect.gen(function*() {
      const entry = makeEntry({ run: () => { throw new Error("boom") }, mutates: () => false }, options)
      const request = fetchRequest("abcdefgh")
      expect(entry(delivery(request))).toMatchObject({ _tag: "Now", outcome: { _tag: "Defect", reference: request.lineage.eventId } })

      const { channels, sent } = recordingChannels()
      const settled: Array<string> = []
      makeDeliveryHandler(entry, makeSettler({ brokerType: "rBroker", deadLetterExchange: "dlx" }), channels, observer, {
        fork: () => expect.fail("a defect at the entry needs no fiber"),
        ended: (_message, result) => void settled.push(result._tag)
      })(delivery(request))
      expect(sent[0]).toBe("confirmed dlx|read.contract_rel.fetch")
      expect(sent[1]).toContain(`"code":"internal"`)
      expect(sent[1]).toContain(`internal error (reference ${request.lineage.eventId})`)
      expect(sent[2]).toBe("ack")
      expect(settled).toStrictEqual(["Acked"])
    }))
})
