import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Logger, LogLevel, Ref, TestClock } from "effect"
import { ServiceUnavailable } from "../../src/core/errors.js"
import { IplFailed, runIpl, type IplStep } from "../../src/ipl/runner.js"

const ok = (name: string, ran?: Ref.Ref<Array<string>>): IplStep => ({
  name,
  target: `${name}:1`,
  run: ran === undefined ? Effect.void : Ref.update(ran, (names) => [...names, name])
})
const failing = (name: string, ran?: Ref.Ref<Array<string>>): IplStep => ({
  name,
  target: `${name}:2`,
  run: (ran === undefined ? Effect.void : Ref.update(ran, (names) => [...names, name])).pipe(
    Effect.zipRight(Effect.fail(new ServiceUnavailable({ target: `${name}:2`, reason: "connection refused" })))
  )
})
const configStep = { name: "config loaded", target: "beds.toml", ok: true, durationMs: 1 }

// The runner logs each step; these tests read its report, so its lines are dropped.
layer(Logger.minimumLogLevel(LogLevel.None))("runIpl", (it) => {
  it.effect("dev: every step runs; the report lists each with its outcome and what is off", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make<Array<string>>([])
      const report = yield* runIpl({
        env: "dev",
        stepTimeoutMs: 1_000,
        completed: [configStep],
        steps: [ok("a", ran), failing("b", ran), ok("c", ran)]
      })
      expect(yield* Ref.get(ran)).toStrictEqual(["a", "b", "c"])
      expect(report.steps.map((s) => [s.name, s.ok])).toStrictEqual([["config loaded", true], ["a", true], ["b", false], ["c", true]])
      expect(report.failed).toHaveLength(1)
      expect(report.failed[0]).toMatchObject({ name: "b", target: "b:2", reason: "connection refused" })
      for (const step of report.steps) expect(step.durationMs).toBeGreaterThanOrEqual(0)
    }))

  it.effect("prod: the first failure ends the IPL, naming the step and target; later steps never run", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make<Array<string>>([])
      const error = yield* runIpl({
        env: "prod",
        stepTimeoutMs: 1_000,
        completed: [configStep],
        steps: [ok("a", ran), failing("b", ran), ok("c", ran)]
      }).pipe(Effect.flip)
      expect(error).toBeInstanceOf(IplFailed)
      expect(error.message).toBe(`IPL step "b" failed for b:2: connection refused`)
      expect(yield* Ref.get(ran)).toStrictEqual(["a", "b"])
    }))

  it.effect("a step that never answers fails at the step timeout instead of hanging the boot", () =>
    Effect.gen(function*() {
      const running = yield* Effect.fork(runIpl({
        env: "qa",
        stepTimeoutMs: 50,
        completed: [],
        steps: [{ name: "slow", target: "127.0.0.1:1", run: Effect.never }, ok("after")]
      }))
      yield* TestClock.adjust("50 millis")
      const report = yield* Fiber.join(running)
      expect(report.failed).toStrictEqual([
        expect.objectContaining({ name: "slow", ok: false, reason: "no answer within 50 ms" })
      ])
      expect(report.steps.at(-1)).toMatchObject({ name: "after", ok: true })
    }))

  it.effect("a step that dies is reported failed, not allowed to crash the boot", () =>
    Effect.gen(function*() {
      const report = yield* runIpl({
        env: "dev",
        stepTimeoutMs: 1_000,
        completed: [],
        steps: [{ name: "buggy", target: "x", run: Effect.die(new Error("bug")) }]
      })
      expect(report.failed[0]).toMatchObject({ name: "buggy", ok: false, reason: "unexpected failure (see the log)" })
    }))
})
