import { Effect } from "effect"
import { Unavailable, type OperationError } from "../../protocol/errors.js"
import { driverCall } from "../driver-call.js"
import type { WriteKind } from "../port.js"

const TRANSIENT = new Set([
  "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "InternalServerError",
  "ServiceUnavailable", "TimeoutError", "RequestTimeout", "TransactionConflictException"
])
const NETWORK = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE"])

/** A write's condition did not hold. */
export class ConditionFailed {
  readonly _tag = "ConditionFailed"
}

/**
 * DynamoDB errors by class: throttling, server errors, network -> transient (retried by the
 * broker; the SDK's own retries are off so there is one retry policy). A failed condition is the
 * caller's (reported by each operation). A missing table or a rejected request shape is a
 * deployment defect: made a defect on purpose, so the message is dead-lettered and logged.
 */
export const send = <A>(operation: (signal: AbortSignal) => Promise<A>) =>
  driverCall(operation).pipe(
    Effect.catchAll(({ cause: error }): Effect.Effect<never, OperationError | ConditionFailed> => {
      const name = (error as { name?: string }).name ?? ""
      const code = (error as { code?: string }).code ?? ""
      if (name === "ConditionalCheckFailedException") return Effect.fail(new ConditionFailed())
      if (TRANSIENT.has(name) || NETWORK.has(code)) return Effect.fail(new Unavailable({ message: `dynamodb: ${(error as Error).message}` }))
      return Effect.die(error)
    })
  )

/** For calls that carry no condition, a ConditionFailed cannot happen. */
export const unconditional = <A>(effect: Effect.Effect<A, OperationError | ConditionFailed>): Effect.Effect<A, OperationError> =>
  Effect.catchAll(effect, (error) => error instanceof ConditionFailed ? Effect.dieMessage("condition failure without a condition") : Effect.fail(error))

/**
 * One write to a template's table, as data: run on its own (the conditional-write idempotency) or
 * as one item of a TransactWriteItems (with the idempotency record). `onCondition` tells what a
 * failed condition means; `outcome` is the record it answers with, given the item after the write.
 */
export interface ItemWrite {
  readonly kind: Exclude<WriteKind, "named">
  readonly table: string
  readonly key: Record<string, unknown>
  /** create: the item put. */
  readonly item?: Record<string, unknown>
  /** update: the expression. */
  readonly update?: string
  readonly condition: string
  readonly names: Record<string, string>
  readonly values: Record<string, unknown> | undefined
}

