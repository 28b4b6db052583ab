import { Data, Duration, Effect, Exit, Option, Ref, Schema } from "effect"
import type { Environment } from "../config/schema.js"
import { ServiceUnavailable } from "../kernel/errors.js"

/**
 * A step that found problems but still found something to use (the templates step: the templates
 * whose objects exist). It counts as failed (fatal in prod); in dev and qa its value is used.
 */
export class StepDegraded<A> extends Data.TaggedError("StepDegraded")<{ readonly value: A; readonly reason: string }> {}

/** One named boot check against one target (host:port, path), giving what it found. */
export interface IplStep<A = void, R = never> {
  readonly name: string
  readonly target: string
  readonly run: Effect.Effect<A, ServiceUnavailable | StepDegraded<A>, R>
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

export interface IplOptions {
  readonly env: Environment
  readonly stepTimeoutMs: number
  /** Steps done before the logger existed (config loaded, logging up). */
  readonly completed: ReadonlyArray<IplStepResult>
}

/**
 * The IPL as one composed Effect of named steps: `step` runs one under the timeout, logs its
 * outcome and duration, and gives what it found (none if it failed); in prod the first failure
 * fails the IPL with IplFailed. `report` logs the summary and says what is off.
 */
export const makeIpl = (options: IplOptions) =>
  Effect.map(Ref.make<ReadonlyArray<IplStepResult>>(options.completed), (results) => {
    const step = <A, R>(step: IplStep<A, R>): Effect.Effect<Option.Option<A>, IplFailed, R> =>
      Effect.gen(function*() {
        const [duration, exit] = yield* step.run.pipe(
          Effect.timeoutFail({
            duration: Duration.millis(options.stepTimeoutMs),
            onTimeout: () => new ServiceUnavailable({ target: step.target, reason: `no answer within ${options.stepTimeoutMs} ms` })
          }),
          Effect.exit,
          Effect.timed
        )
        const failure = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
        const reason = Exit.isSuccess(exit) ? undefined : failure === undefined ? "unexpected failure (see the log)" : failure.reason
        const result: IplStepResult = {
          name: step.name,
          target: step.target,
          ok: reason === undefined,
          durationMs: roundMs(duration),
          ...(reason === undefined ? {} : { reason })
        }
        yield* Ref.update(results, (all) => [...all, result])
        if (Exit.isSuccess(exit)) yield* Effect.logInfo(`IPL ${step.name}: ok`)
        else if (failure === undefined) yield* Effect.logError(`IPL ${step.name}: failed`, exit.cause)
        else yield* Effect.logError(`IPL ${step.name}: failed: ${failure.reason}`)
        if (!result.ok && options.env === "prod") {
          return yield* new IplFailed({ step: result.name, target: result.target, reason: result.reason ?? "failed" })
        }
        if (Exit.isSuccess(exit)) return Option.some(exit.value)
        return failure?._tag === "StepDegraded" ? Option.some(failure.value) : Option.none()
      }).pipe(Effect.annotateLogs({ step: step.name, target: step.target }), Effect.withLogSpan(`ipl.${step.name}`))

    const report = Effect.gen(function*() {
      const steps = yield* Ref.get(results)
      const report: IplReport = { steps, failed: steps.filter((result) => !result.ok) }
      const summary = steps.map((s) => `${s.name} ${s.ok ? "ok" : "FAILED"} ${s.durationMs}ms`).join("; ")
      if (report.failed.length === 0) {
        yield* Effect.logInfo(`IPL complete: ${steps.length} steps ok (${summary})`)
      } else {
        const off = report.failed.map((s) => `${s.name} (${s.target}): ${s.reason}`).join("; ")
        yield* Effect.logWarning(`IPL complete, node DEGRADED: ${off}`).pipe(Effect.annotateLogs({ degraded: report.failed.map((s) => s.name) }))
      }
      return report
    })
    return { step, report }
  })

/** Runs steps that find nothing (service checks) in order, then reports. */
export const runIpl = <R>(options: IplOptions & { readonly steps: ReadonlyArray<IplStep<void, R>> }) =>
  Effect.gen(function*() {
    const ipl = yield* makeIpl(options)
    for (const step of options.steps) yield* ipl.step(step)
    return yield* ipl.report
  })
