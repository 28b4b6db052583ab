import { expect, layer } from "@effect/vitest"
import { Effect, Fiber, Logger, LogLevel, Option, Ref, TestClock } from "effect"
import { IplFailed, makeIpl, runIpl, StepDegraded, type IplStep } from "../../src/ipl/runner.js"
import { ServiceUnavailable } from "../../src/kernel/errors.js"

const ok = (name: string, ran?: Ref.Ref<Array<string>>, takesMs = 0): IplStep => ({
  name,
  target: `${name}:1`,
  run: Effect.sleep(`${takesMs} millis`).pipe(Effect.zipRight(ran === undefined ? Effect.void : Ref.update(ran, (names) => [...names, name])))
})
const failing = (name: string, ran?: Ref.Ref<Array<string>>, takesMs = 0): IplStep => ({
  name,
  target: `${name}:2`,
  run: Effect.sleep(`${takesMs} millis`).pipe(
    Effect.zipRight(ran === undefined ? Effect.void : Ref.update(ran, (names) => [...names, name])),
    Effect.zipRight(Effect.fail(new ServiceUnavailable({ target: `${name}:2`, reason: "connection refused" })))
  )
})
const configStep = { name: "config loaded", target: "beds.toml", ok: true, durationMs: 1 }

// The runner logs each step; these tests read its report, so its lines are dropped.
layer(Logger.minimumLogLevel(LogLevel.None))("runIpl", (it) => {
  it.effect("dev: every step runs; the report lists each with its outcome, duration and what is off", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make<Array<string>>([])
      const running = yield* Effect.fork(runIpl({
        env: "dev",
        stepTimeoutMs: 1_000,
        completed: [configStep],
        steps: [ok("a", ran, 20), failing("b", ran, 5), ok("c", ran)]
      }))
      yield* TestClock.adjust("20 millis")
      yield* TestClock.adjust("5 millis")
      const report = yield* Fiber.join(running)
      expect(yield* Ref.get(ran)).toStrictEqual(["a", "b", "c"])
      expect(report.steps.map((s) => [s.name, s.ok, s.durationMs])).toStrictEqual([
        ["config loaded", true, 1],
        ["a", true, 20],
        ["b", false, 5],
        ["c", true, 0]
      ])
      expect(report.failed).toStrictEqual([{ name: "b", target: "b:2", ok: false, durationMs: 5, reason: "connection refused" }])
    }))

  it.effect("a step gives what it found; a degraded step is reported failed and still gives its value in dev, not in prod", () =>
    Effect.gen(function*() {
      const found: IplStep<ReadonlyArray<string>> = { name: "found", target: "t", run: Effect.succeed(["x", "y"]) }
      const partly: IplStep<ReadonlyArray<string>> = {
        name: "partly",
        target: "t",
        run: Effect.fail(new StepDegraded({ value: ["x"], reason: "y disabled" }))
      }
      const dev = yield* makeIpl({ env: "dev", stepTimeoutMs: 1_000, completed: [] })
      expect(yield* dev.step(found)).toStrictEqual(Option.some(["x", "y"]))
      expect(yield* dev.step(partly)).toStrictEqual(Option.some(["x"]))
      expect((yield* dev.report).failed).toStrictEqual([{ name: "partly", target: "t", ok: false, durationMs: 0, reason: "y disabled" }])

      const prod = yield* makeIpl({ env: "prod", stepTimeoutMs: 1_000, completed: [] })
      const error = yield* prod.step(partly).pipe(Effect.flip)
      expect(error.message).toBe(`IPL step "partly" failed for t: y disabled`)
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
