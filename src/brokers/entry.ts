import type { ConsumeMessage } from "amqplib"
import { Cause } from "effect"
import { randomUUID } from "node:crypto"
import type { Dispatch } from "../core/dispatch.js"
import { alreadyDone } from "../kernel/already-done.js"
import { recordRetry } from "../telemetry/metrics.js"
import type { TrustSettings } from "../config/trust.js"
import { decodeDelivery, type Accepted, type Refused } from "./ingress.js"
import { isDirectReplyTo } from "../protocol/routing.js"
import { makeRateLimiter, makeVerifier, type Verdict } from "./trust.js"
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
  // Only on direct reply-to: nobody vouched for a name of another queue (ingress.ts says why).
  const answerable = typeof correlationId === "string" && correlationId !== "" && typeof replyTo === "string" && isDirectReplyTo(replyTo)
  return {
    _tag: "Refused",
    code: "bad_envelope",
    reason: "unreadable",
    replyTo: answerable ? replyTo : undefined,
    correlationId: answerable ? correlationId : undefined,
    traceparent: undefined,
    lineage: undefined
  }
}

const defect = (reference: string, thrown: unknown): Outcome => ({ _tag: "Defect", reference, cause: Cause.die(thrown) })

/**
 * A request no producer vouched for: refused without running, answered only where an unsigned
 * sender may be answered (direct reply-to), so a stranger cannot have the node publish into a queue
 * of its choosing. A replyTo the sender may not name is not answered at all: dead-lettered.
 */
const untrusted = (ingress: Accepted, verdict: Exclude<Verdict, { readonly _tag: "Trusted" }>): Handled => {
  const direct = isDirectReplyTo(ingress.replyTo)
  const refused = (replyTo: string | undefined): Refused => ({
    _tag: "Refused",
    code: "bad_envelope",
    reason: verdict.reason,
    replyTo,
    correlationId: ingress.correlationId,
    traceparent: ingress.traceparent,
    lineage: ingress.request.lineage
  })
  switch (verdict._tag) {
    case "ReplyToRefused":
      return { _tag: "Now", ingress: refused(undefined), outcome: { _tag: "Refused", code: "bad_envelope", reason: verdict.reason } }
    case "Unauthenticated":
      return { _tag: "Now", ingress: refused(direct ? ingress.replyTo : undefined), outcome: { _tag: "Failed", code: "unauthenticated", message: verdict.reason } }
    case "Forbidden":
      // The signature held, so its replyTo is one this producer may name.
      return { _tag: "Now", ingress, outcome: { _tag: "Failed", code: "forbidden", message: verdict.reason } }
  }
}

/**
 * The message edge: a delivery in, what to settle out, and nothing thrown. Decodes the delivery,
 * answers a passed deadline at once (a plain comparison), asks the dispatch for the operation, and
 * looks once whether it is already done (the Dispatch port's fast path: a read-cache hit, or a
 * refusal such as not_found): then its outcome is returned as it is and the broker settles it
 * without a fiber. Only an operation that needs running is wrapped in retry and deadline. A throw
 * anywhere here (a bug in decoding, in the factory, in an adapter building its call) is a defect
 * outcome with a reference, never an exception in amqplib's consume callback.
 */
export const makeEntry = (dispatch: Dispatch["Type"], options: OperationOptions & { readonly now: () => number; readonly trust: TrustSettings }) => {
  const operation = makeOperation(options)
  const verify = makeVerifier(options.trust, options.now)
  const admit = makeRateLimiter(options.trust, options.now)
  const maxBytes = options.trust.limits.max_message_bytes
  return (message: ConsumeMessage): Handled => {
    let ingress: Accepted | Refused | undefined
    try {
      ingress = decodeDelivery(message, maxBytes)
      if (ingress._tag === "Refused") return { _tag: "Now", ingress, outcome: { _tag: "Refused", code: ingress.code, reason: ingress.reason } }
      const verdict = verify(message, ingress.request, ingress.replyTo, ingress.correlationId)
      if (verdict._tag !== "Trusted") return untrusted(ingress, verdict)
      const request = verdict.request
      ingress = { ...ingress, request }
      const now = options.now()
      const route = message.fields.routingKey.slice(0, message.fields.routingKey.indexOf("."))
      if (!admit(verdict.keyId, request, route)) {
        return { _tag: "Now", ingress, outcome: { _tag: "Failed", code: "rate_limited", message: `more than ${options.trust.limits.requests_per_s} requests per second on route ${route}: resend later` } }
      }
      if (request.deadline !== undefined && request.deadline <= now) return { _tag: "Now", ingress, outcome: deadlinePassed }
      const run = dispatch.run(request, route)
      const reference = request.lineage.eventId
      const done = alreadyDone(run)
      if (done !== undefined) return { _tag: "Now", ingress, outcome: outcomeOfExit(done, reference) }
      const mutation = request.deadline !== undefined && dispatch.mutates(request)
      const onRetry = () => recordRetry(request.template, request.op)
      return { _tag: "Run", ingress, operation: operation(run, request.deadline, now, mutation, onRetry), reference }
    } catch (thrown) {
      const reference = ingress?._tag === "Accepted" ? ingress.request.lineage.eventId : `delivery.${randomUUID()}`
      return { _tag: "Now", ingress: ingress ?? rawIngress(message), outcome: defect(reference, thrown) }
    }
  }
}
