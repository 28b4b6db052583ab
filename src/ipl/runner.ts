import { Duration, Effect, Exit, Schema } from "effect"
import type { Environment } from "../config/schema.js"
import { ServiceUnavailable } from "../core/errors.js"

/** One named boot check against one target (host:port, path). */
export interface IplStep<R = never> {
  readonly name: string
  readonly target: string
  readonly run: Effect.Effect<void, ServiceUnavailable, R>
}

export interface IplStepResult {
  readonly name: string
  readonly target: string
  readonly ok: boolean
  readonly durationMs: number
  readonly reason?: string
}

export interface IplReport {
  readonly steps: ReadonlyArray<IplStepResult>
  /** The steps that failed: what is off while the node runs degraded (dev and qa only). */
  readonly failed: ReadonlyArray<IplStepResult>
}

/** In prod, a failed step ends the boot: the message is the one line the operator reads. */
export class IplFailed extends Schema.TaggedError<IplFailed>()("IplFailed", {
  step: Schema.String,
  target: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `IPL step "${this.step}" failed for ${this.target}: ${this.reason}`
  }
}

/** Milliseconds to one decimal, as reports show them. */
export const roundMs = (duration: Duration.Duration) => Math.round(Duration.toMillis(duration) * 10) / 10

/** Runs a step under the timeout and logs its outcome with its duration. */
const runStep = <R>(step: IplStep<R>, timeoutMs: number) =>
  Effect.gen(function*() {
    const [duration, exit] = yield* step.run.pipe(
      Effect.timeoutFail({
        duration: Duration.millis(timeoutMs),
        onTimeout: () => new ServiceUnavailable({ target: step.target, reason: `no answer within ${timeoutMs} ms` })
      }),
      Effect.exit,
      Effect.timed
    )
    const result: IplStepResult = Exit.isSuccess(exit)
      ? { name: step.name, target: step.target, ok: true, durationMs: roundMs(duration) }
      : {
        name: step.name,
        target: step.target,
        ok: false,
        durationMs: roundMs(duration),
        reason: exit.cause._tag === "Fail" ? exit.cause.error.reason : "unexpected failure (see the log)"
      }
    if (result.ok) {
      yield* Effect.logInfo(`IPL ${step.name}: ok`)
    } else if (exit._tag === "Failure" && exit.cause._tag !== "Fail") {
      yield* Effect.logError(`IPL ${step.name}: failed`, exit.cause)
    } else {
      yield* Effect.logError(`IPL ${step.name}: failed: ${result.reason}`)
    }
    return result
  }).pipe(Effect.annotateLogs({ step: step.name, target: step.target }), Effect.withLogSpan(`ipl.${step.name}`))

/**
 * Runs the steps in order. `completed` are steps already done before the logger existed (config
 * loaded, logging up). In prod the first failure fails the IPL; in dev and qa every step runs
 * and the report says what is off.
 */
export const runIpl = <R>(options: {
  readonly env: Environment
  readonly stepTimeoutMs: number
  readonly completed: ReadonlyArray<IplStepResult>
  readonly steps: ReadonlyArray<IplStep<R>>
}) =>
  Effect.gen(function*() {
    const results: Array<IplStepResult> = [...options.completed]
    for (const step of options.steps) {
      const result = yield* runStep(step, options.stepTimeoutMs)
      results.push(result)
      if (!result.ok && options.env === "prod") {
        return yield* new IplFailed({ step: result.name, target: result.target, reason: result.reason ?? "failed" })
      }
    }
    const report: IplReport = { steps: results, failed: results.filter((result) => !result.ok) }
    const summary = report.steps.map((s) => `${s.name} ${s.ok ? "ok" : "FAILED"} ${s.durationMs}ms`).join("; ")
    if (report.failed.length === 0) {
      yield* Effect.logInfo(`IPL complete: ${report.steps.length} steps ok (${summary})`)
    } else {
      const off = report.failed.map((s) => `${s.name} (${s.target}): ${s.reason}`).join("; ")
      yield* Effect.logWarning(`IPL complete, node DEGRADED: ${off}`).pipe(
        Effect.annotateLogs({ degraded: report.failed.map((s) => s.name) })
      )
    }
    return report
  })
