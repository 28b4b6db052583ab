import type { ConsumeMessage } from "amqplib"
import { Cause } from "effect"
import { randomUUID } from "node:crypto"
import type { Dispatch } from "../core/dispatch.js"
import { alreadyDone } from "../kernel/already-done.js"
import { decodeDelivery, type Accepted, type Refused } from "./ingress.js"
import { deadlinePassed, makeOperation, outcomeOfExit, type Operation, type OperationOptions } from "./operation.js"
import type { Outcome } from "./policy.js"

/** What became of a delivery at the entry: its outcome now, or the operation that will give it. */
export type Handled =
  /** Settled at once, in the consume callback: no fiber. */
  | { readonly _tag: "Now"; readonly ingress: Accepted | Refused; readonly outcome: Outcome }
  /** To run in a fiber; its Exit gives the outcome, `reference` names a defect in the log. */
  | { readonly _tag: "Run"; readonly ingress: Accepted; readonly operation: Operation; readonly reference: string }

/** What a reply to a delivery that could not even be decoded can still use (its raw properties). */
const rawIngress = (message: Pick<ConsumeMessage, "properties">): Refused => {
  const { correlationId, replyTo } = message.properties as { correlationId?: unknown; replyTo?: unknown }
  const answerable = typeof correlationId === "string" && correlationId !== "" && typeof replyTo === "string" && replyTo !== ""
  return {
    _tag: "Refused",
    reason: "unreadable",
    replyTo: answerable ? replyTo : undefined,
    correlationId: answerable ? correlationId : undefined,
    traceparent: undefined,
    lineage: undefined
  }
}

const defect = (reference: string, thrown: unknown): Outcome => ({ _tag: "Defect", reference, cause: Cause.die(thrown) })

/**
 * The message edge: a delivery in, what to settle out, and nothing thrown. Decodes the delivery,
 * answers a passed deadline at once (a plain comparison), asks the dispatch for the operation, and
 * looks once whether it is already done (the Dispatch port's fast path: a read-cache hit, or a
 * refusal such as not_found): then its outcome is returned as it is and the broker settles it
 * without a fiber. Only an operation that needs running is wrapped in retry and deadline. A throw
 * anywhere here (a bug in decoding, in the factory, in an adapter building its call) is a defect
 * outcome with a reference, never an exception in amqplib's consume callback.
 */
export const makeEntry = (dispatch: Dispatch["Type"], options: OperationOptions & { readonly now: () => number }) => {
  const operation = makeOperation(options)
  return (message: ConsumeMessage): Handled => {
    let ingress: Accepted | Refused | undefined
    try {
      ingress = decodeDelivery(message)
      if (ingress._tag === "Refused") return { _tag: "Now", ingress, outcome: { _tag: "Refused", reason: ingress.reason } }
      const request = ingress.request
      const now = options.now()
      if (request.deadline !== undefined && request.deadline <= now) return { _tag: "Now", ingress, outcome: deadlinePassed }
      const route = message.fields.routingKey.slice(0, message.fields.routingKey.indexOf("."))
      const run = dispatch.run(request, route)
      const reference = request.lineage.eventId
      const done = alreadyDone(run)
      if (done !== undefined) return { _tag: "Now", ingress, outcome: outcomeOfExit(done, reference) }
      const mutation = request.deadline !== undefined && dispatch.mutates(request)
      return { _tag: "Run", ingress, operation: operation(run, request.deadline, now, mutation), reference }
    } catch (thrown) {
      const reference = ingress?._tag === "Accepted" ? ingress.request.lineage.eventId : `delivery.${randomUUID()}`
      return { _tag: "Now", ingress: ingress ?? rawIngress(message), outcome: defect(reference, thrown) }
    }
  }
}
