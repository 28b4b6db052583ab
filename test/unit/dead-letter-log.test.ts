import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, TestClock } from "effect"
import { makeDeadLetterLog } from "../../src/brokers/dead-letter-log.js"

/** A dead-letter log of its own (the process's one is shared) and the lines it writes, with their annotations. */
const setUp = () => {
  const lines: Array<{ level: string; text: string; broker: unknown }> = []
  const logger = Logger.make(({ annotations, logLevel, message }) => {
    const entries = Object.fromEntries([...annotations])
    lines.push({ level: logLevel.label, text: (Array.isArray(message) ? message : [message]).join(" "), broker: entries["broker"] ?? entries["routingKey"] })
  })
  return { lines, log: makeDeadLetterLog("10 seconds"), logger: Logger.replace(Logger.defaultLogger, logger) }
}

describe("the dead-letter log: one line at once, then one summary per window while they keep coming", () => {
  it.effect("a flood is a few lines with counts per code; a quiet window ends it; broker types are counted apart", () => {
    const { lines, log, logger } = setUp()
    return Effect.gen(function*() {
      yield* log.record("wBroker", { code: "internal", reason: "defect (see the node log for a)" }).pipe(Effect.annotateLogs({ routingKey: "write.x.create" }))
      expect(lines).toStrictEqual([{ level: "WARN", text: "dead-lettered: internal: defect (see the node log for a)", broker: "write.x.create" }])

      for (let i = 0; i < 30; i++) yield* log.record("wBroker", { code: "unavailable", reason: `deadlock ${i}` })
      for (let i = 0; i < 7; i++) yield* log.record("wBroker", { code: "bad_envelope", reason: "body is not UTF-8 JSON" })
      yield* log.record("rBroker", { code: "bad_envelope", reason: "not JSON" })
      expect(lines).toHaveLength(2)
      expect(lines[1]).toMatchObject({ text: "dead-lettered: bad_envelope: not JSON" })

      yield* TestClock.adjust("10 seconds")
      expect(lines.slice(2)).toStrictEqual([{
        level: "WARN",
        text: "dead-lettered 37 more on wBroker in the last 10 s (unavailable 30, bad_envelope 7); last: bad_envelope: body is not UTF-8 JSON",
        broker: "wBroker"
      }])

      // Still coming: counted in the next window.
      yield* log.record("wBroker", { code: "unavailable", reason: "lock wait timeout" })
      yield* TestClock.adjust("10 seconds")
      expect(lines.slice(3).map((line) => line.text)).toStrictEqual([
        "dead-lettered 1 more on wBroker in the last 10 s (unavailable 1); last: unavailable: lock wait timeout"
      ])

      // A quiet window closes it: the next dead letter is logged at once again.
      yield* TestClock.adjust("10 seconds")
      yield* log.record("wBroker", { code: "internal", reason: "defect (see the node log for b)" })
      expect(lines.slice(4).map((line) => line.text)).toStrictEqual(["dead-lettered: internal: defect (see the node log for b)"])
    }).pipe(Effect.provide(logger))
  })
})
