import { Cause, Effect, Either, Exit, Schema } from "effect"
import { InProgress, KeyReused, type OperationError, type Unavailable } from "../protocol/errors.js"
import type { Once, Recorded, Row, Written } from "./port.js"

// What every adapter's idempotency shares: which outcomes are recorded, how a record is stored,
// and how a repeat is judged. How the write and its record commit together is each adapter's.

const RecordedSchema = Schema.parseJson(Schema.Union(
  Schema.Struct({ ok: Schema.Literal(true), data: Schema.Unknown }),
  Schema.Struct({ ok: Schema.Literal(false), code: Schema.Literal("conflict", "not_found", "validation"), message: Schema.String })
))
const decodeRecorded = Schema.decodeUnknownEither(RecordedSchema)

/** A recorded outcome as stored (JSON text in every store). */
export const encodeRecorded = (recorded: Recorded): string => JSON.stringify(recorded)

/** An error a write ends with that is its outcome (recorded, replayed), not a reason it may not have run. */
export type CallerError = Extract<OperationError, { readonly _tag: "Conflict" | "NotFound" | "ValidationFailed" }>

const callerCodes = { Conflict: "conflict", NotFound: "not_found", ValidationFailed: "validation" } as const

export const isCallerError = (error: OperationError): error is CallerError => error._tag in callerCodes

export const recordedError = (error: CallerError): Recorded => ({ ok: false, code: callerCodes[error._tag], message: error.message })

/**
 * The outcome a write's run ends with: its data or a caller error, recorded; a transient failure
 * (the write may not have run) stays a failure and records nothing. Other operation errors cannot
 * come from a store; they are defects here.
 */
export const recordedOf = (exit: Exit.Exit<unknown, OperationError>): Effect.Effect<Recorded, Unavailable> => {
  if (Exit.isSuccess(exit)) return Effect.succeed({ ok: true, data: exit.value })
  const found = Cause.failureOption(exit.cause)
  // A defect (or an interruption): not an outcome, and the transaction around it rolls back.
  if (found._tag === "None") return Effect.failCause(exit.cause as Cause.Cause<never>)
  const failure = found.value
  if (isCallerError(failure)) return Effect.succeed(recordedError(failure))
  if (failure._tag === "Unavailable") return Effect.fail(failure)
  return Effect.die(new Error(`a store ended a write with ${failure._tag}`))
}

/** The scope's key, for messages: `{template}/{key}` -> key. */
const keyOf = (scope: string) => scope.slice(scope.indexOf("/") + 1)

/**
 * A repeat of a scope that already has a record: the first outcome when the request means the
 * same, KeyReused when it does not, InProgress when the first run has not recorded one yet.
 */
export const replayOf = (
  once: Once,
  found: { readonly fingerprint: string; readonly outcome: string | null | undefined }
): Effect.Effect<Written, KeyReused | InProgress | Unavailable> => {
  if (found.fingerprint !== once.fingerprint) {
    return Effect.fail(new KeyReused({
      message: `idempotencyKey ${keyOf(once.scope)} was first used for a different request (another operation, values or caller); nothing ran`
    }))
  }
  if (found.outcome === null || found.outcome === undefined) {
    return Effect.fail(new InProgress({ message: `the first request with idempotencyKey ${keyOf(once.scope)} is still running; resend for its outcome` }))
  }
  const recorded = decodeRecorded(found.outcome)
  return Either.isRight(recorded)
    ? Effect.succeed({ recorded: recorded.right, replayed: true, before: null })
    : Effect.die(new Error(`idempotency record ${once.scope} holds an outcome that does not decode`))
}

/** A first run's outcome, as the adapter returns it. */
export const firstRun = (recorded: Recorded, before: Row | null): Written => ({ recorded, replayed: false, before })

