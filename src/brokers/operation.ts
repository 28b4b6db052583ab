import { Cause, Effect, Equal, Exit, FiberId, HashSet, Schedule } from "effect"
import { cappedExponential } from "../kernel/backoff.js"
import { codeOf, type OperationError } from "../protocol/errors.js"
import type { Outcome } from "./policy.js"

export interface OperationOptions {
  /** Transient failures (`unavailable`) are run again this many times before they are reported. */
  readonly transientRetries: number
  readonly retryBaseDelayMs: number
  readonly retryMaxDelayMs: number
}

const isTransient = (error: OperationError) => error._tag === "Unavailable"

/** An operation as the broker runs it. */
export type Operation = Effect.Effect<unknown, OperationError>

/** A request whose deadline passed before it was done (or before it ran: then it is not run). */
export const deadlinePassed: Outcome = { _tag: "Failed", code: "deadline_exceeded", message: "the request's deadline passed before it was done" }

/**
 * Who interrupts a read at its deadline. A message's fiber interrupted by this id ran out of time
 * (deadline_exceeded); interrupted by anyone else, its broker is stopping and it settles nothing.
 */
const DEADLINE = FiberId.make(-1, 0)

/** Whether the exit is an interruption by the request's deadline alone. */
export const cutShortByDeadline = (exit: Exit.Exit<unknown, unknown>) =>
  Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) &&
  HashSet.every(Cause.interruptors(exit.cause), (id) => Equal.equals(id, DEADLINE))

/** The outcome of an operation that ended; `reference` names a defect in the log. */
export const outcomeOfExit = (exit: Exit.Exit<unknown, OperationError>, reference: string): Outcome => {
  if (Exit.isSuccess(exit)) return { _tag: "Succeeded", data: exit.value }
  if (cutShortByDeadline(exit)) return deadlinePassed
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "None") return { _tag: "Defect", reference, cause: exit.cause }
  return { _tag: "Failed", code: codeOf(failure.value), message: failure.value.message }
}

/**
 * Runs `run` until it ends or `ms` pass, whichever is first: then the fiber running it is
 * interrupted by DEADLINE. A plain timer rather than Effect.timeout, whose race forks two fibers
 * per request: that doubled the node's CPU for a read that carries a deadline (every read the HTTP
 * gateway sends; BENCHMARKS.md). The caller's fiber must be the message's own (delivery.ts), which
 * settles an exit cut short this way as deadline_exceeded.
 */
const cutShortAfter = <A, E>(run: Effect.Effect<A, E>, ms: number): Effect.Effect<A, E> =>
  Effect.withFiberRuntime((fiber) => {
    const timer = setTimeout(() => fiber.unsafeInterruptAsFork(DEADLINE), ms)
    return Effect.ensuring(run, Effect.sync(() => clearTimeout(timer)))
  })

/**
 * An operation that needs running, as the broker runs it in a fiber: transient failures retried
 * with the one backoff (kernel/backoff.ts) and bounded by the request's deadline; its Exit gives
 * the outcome (outcomeOfExit). The retry schedule is built only once an attempt failed: on the
 * success path the operation runs as it is.
 */
export const makeOperation = (options: OperationOptions & { readonly now: () => number }) => {
  const retrySchedule = cappedExponential(options.retryBaseDelayMs, options.retryMaxDelayMs).pipe(
    Schedule.intersect(Schedule.recurs(options.transientRetries))
  )
  const withRetry = <A>(
    run: Effect.Effect<A, OperationError>,
    retryWhile: (error: OperationError) => boolean,
    onRetry: () => void
  ): Effect.Effect<A, OperationError> =>
    options.transientRetries === 0 ? run : Effect.catchIf(run, retryWhile, (first) => {
      // The first failure is replayed into the schedule, so the first retry waits its delay too.
      let replayed = false
      const attempt = Effect.suspend(() => {
        if (!replayed) return (replayed = true), Effect.fail(first)
        onRetry()
        return run
      })
      return Effect.retry(attempt, { schedule: retrySchedule, while: retryWhile })
    })

  /**
   * A read is cut short at the deadline (deadline_exceeded). A mutation is never cut short once it
   * started: it is retried only while the deadline is ahead, and otherwise ends with what it ended
   * with (a retry of a mutation is safe: it has an idempotency scope).
   */
  return (
    run: Effect.Effect<unknown, OperationError>,
    deadline: number | undefined,
    now: number,
    mutation: boolean,
    onRetry: () => void
  ): Operation => {
    if (deadline === undefined) return withRetry(run, isTransient, onRetry)
    if (mutation) return withRetry(run, (error) => isTransient(error) && options.now() < deadline, onRetry)
    return cutShortAfter(withRetry(run, isTransient, onRetry), deadline - now)
  }
}
