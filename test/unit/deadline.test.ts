import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Runtime } from "effect"
import { randomUUID } from "node:crypto"
import { makeDeliveryHandler } from "../../src/brokers/delivery.js"
import { makeEntry } from "../../src/brokers/entry.js"
import { makeObserver } from "../../src/brokers/observe.js"
import { makeSettler } from "../../src/brokers/reply.js"
import { anonymousTrust } from "../../src/config/trust.js"
import type { Request } from "../../src/protocol/envelope.js"
import { delivery, recordingChannels } from "../support/deliveries.js"

// A read is cut short at its deadline by a plain timer that interrupts the message's fiber
// (brokers/operation.ts), not by Effect.timeout: these tests fail if such a read is not answered
// deadline_exceeded, if a mutation is cut short, or if a broker stopping settles a message it
// interrupted.

const request = (op: string, deadlineInMs: number): Request => ({
  version: 1,
  template: "contract_rel",
  op,
  ...(op === "create" ? { data: { id: "abcdefgh", title: "t" } } : { query: { id: "abcdefgh" } }),
  lineage: { eventId: `unit.dev.${randomUUID()}`, parentId: "", depth: 0 },
  deadline: Date.now() + deadlineInMs
})
/** The JSON of the reply in a recorded publish. */
const replyIn = (line: string) => JSON.parse(line.slice(line.indexOf(" {") + 1))

const options = { transientRetries: 2, retryBaseDelayMs: 5, retryMaxDelayMs: 20, now: () => Date.now(), trust: anonymousTrust }
const observer = makeObserver({ pool: "rBroker", queue: "beds.rBroker", tracer: undefined, sampleRatio: 0 })

/** A delivery handler over a dispatch whose every operation takes `runMs` (or never ends); its message fibers are returned to the test. */
const handlerWith = (runtime: Runtime.Runtime<never>, runMs: number | undefined) => {
  const { channels, sent } = recordingChannels()
  const fibers: Array<Fiber.RuntimeFiber<void>> = []
  const ended = Deferred.unsafeMake<string>(undefined as never)
  const dispatch = {
    run: () => (runMs === undefined ? Effect.never : Effect.as(Effect.sleep(runMs), { id: "abcdefgh" })),
    mutates: (r: Request) => r.op === "create"
  }
  const handle = makeDeliveryHandler(makeEntry(dispatch, options), makeSettler({ brokerType: "rBroker", deadLetterExchange: "dlx" }), channels, observer, {
    fork: (effect) => void fibers.push(Runtime.runFork(runtime)(effect)),
    ended: (_message, settled) => Deferred.unsafeDone(ended, Effect.succeed(settled._tag))
  })
  return { handle, sent, fibers, ended }
}

describe("a request's deadline at the node", () => {
  it.live("a read still running at its deadline is answered deadline_exceeded and acked", () =>
    Effect.gen(function*() {
      const { ended, handle, sent } = handlerWith(yield* Effect.runtime<never>(), undefined)
      handle(delivery(request("fetch", 50)))
      expect(yield* Deferred.await(ended)).toBe("Acked")
      expect(sent).toHaveLength(2)
      expect(replyIn(sent[0]!)).toMatchObject({ status: "error", error: { code: "deadline_exceeded" } })
      expect(sent[1]).toBe("ack")
    }))

  it.live("a read done before its deadline is answered ok, and the deadline's timer changes nothing after", () =>
    Effect.gen(function*() {
      const { ended, handle, sent } = handlerWith(yield* Effect.runtime<never>(), 10)
      handle(delivery(request("fetch", 60)))
      expect(yield* Deferred.await(ended)).toBe("Acked")
      yield* Effect.sleep("100 millis")
      expect(sent).toHaveLength(2)
      expect(replyIn(sent[0]!)).toMatchObject({ status: "ok", data: { id: "abcdefgh" } })
    }))

  it.live("a mutation is not cut short: it runs past its deadline to its end and answers what it did", () =>
    Effect.gen(function*() {
      const { ended, handle, sent } = handlerWith(yield* Effect.runtime<never>(), 150)
      handle(delivery(request("create", 30), "write.contract_rel.create"))
      expect(yield* Deferred.await(ended)).toBe("Acked")
      expect(replyIn(sent[0]!)).toMatchObject({ status: "ok", data: { id: "abcdefgh" } })
    }))

  it.live("a read interrupted by its broker stopping settles nothing (RabbitMQ delivers it again)", () =>
    Effect.gen(function*() {
      const { fibers, handle, sent } = handlerWith(yield* Effect.runtime<never>(), undefined)
      handle(delivery(request("fetch", 60_000)))
      expect(fibers).toHaveLength(1)
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(fibers[0]!)
      expect(sent).toStrictEqual([])
    }))
})
