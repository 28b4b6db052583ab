import { Schema } from "effect"

/** Stable error codes: clients branch on these, so a code never changes meaning. */
export const ErrorCode = Schema.Literal(
  "bad_envelope",
  "too_large",
  "unauthenticated",
  "validation",
  "not_found",
  "forbidden",
  "rate_limited",
  "conflict",
  "key_reused",
  "in_progress",
  "deadline_exceeded",
  "unavailable",
  "internal"
)
export type ErrorCode = typeof ErrorCode.Type

/**
 * What becomes of the request message once it is answered: acked, or also dead-lettered with the
 * reason. `unavailable` is retried first (brokers/operation.ts); `internal` also replaces the broker.
 */
export type Disposition = "ack" | "dead_letter"

export interface CatalogEntry {
  readonly tag: string
  readonly retryable: boolean
  readonly disposition: Disposition
  readonly meaning: string
}

/** The error catalog: one row per code, also published in docs/protocol.md. */
export const errorCatalog: Readonly<Record<ErrorCode, CatalogEntry>> = {
  bad_envelope: { tag: "BadEnvelope", retryable: false, disposition: "dead_letter", meaning: "the message is not a v1 request envelope" },
  too_large: {
    tag: "TooLarge",
    retryable: false,
    disposition: "ack",
    meaning: "the message is larger than the node takes (limits.max_message_bytes); refused before it was read"
  },
  unauthenticated: {
    tag: "Unauthenticated",
    retryable: false,
    disposition: "ack",
    meaning: "no producer vouched for the request: unsigned, an unknown key, a signature that does not match, or too old"
  },
  validation: { tag: "ValidationFailed", retryable: false, disposition: "ack", meaning: "the request names a field or value the operation refuses" },
  not_found: { tag: "NotFound", retryable: false, disposition: "ack", meaning: "no such template, operation or record" },
  forbidden: { tag: "Forbidden", retryable: false, disposition: "ack", meaning: "the caller may not run this operation" },
  rate_limited: {
    tag: "RateLimited",
    retryable: true,
    disposition: "ack",
    meaning: "the caller sent more requests on this route than limits.requests_per_s allows; resend later"
  },
  conflict: { tag: "Conflict", retryable: false, disposition: "ack", meaning: "a stale version, a duplicate key" },
  key_reused: {
    tag: "KeyReused",
    retryable: false,
    disposition: "ack",
    meaning: "the idempotencyKey was first used for a different request; nothing ran"
  },
  in_progress: {
    tag: "InProgress",
    retryable: true,
    disposition: "ack",
    meaning: "a request with this idempotencyKey is still running; resend with the same key for its outcome"
  },
  deadline_exceeded: { tag: "DeadlineExceeded", retryable: false, disposition: "ack", meaning: "the request's deadline passed before it was done" },
  unavailable: { tag: "Unavailable", retryable: true, disposition: "dead_letter", meaning: "a transient failure persisted through every retry" },
  internal: { tag: "Internal", retryable: false, disposition: "dead_letter", meaning: "a defect in BEDS; the broker fiber was replaced" }
}

// The failures an operation may end with; dispatch (the factory) fails with exactly these.
export class ValidationFailed extends Schema.TaggedError<ValidationFailed>()("ValidationFailed", { message: Schema.String }) {}
export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { message: Schema.String }) {}
export class Forbidden extends Schema.TaggedError<Forbidden>()("Forbidden", { message: Schema.String }) {}
export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", { message: Schema.String }) {}
/** Transient: connection lost, timeout, deadlock. Retried by the broker before it is reported. */
export class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", { message: Schema.String }) {}
/** The request's idempotency scope was first used by a request that means something else. */
export class KeyReused extends Schema.TaggedError<KeyReused>()("KeyReused", { message: Schema.String }) {}
/** The first run of this idempotency scope is still going (on this node or another). */
export class InProgress extends Schema.TaggedError<InProgress>()("InProgress", { message: Schema.String }) {}

export type OperationError = ValidationFailed | NotFound | Forbidden | Conflict | KeyReused | InProgress | Unavailable

/** The codes an operation itself can end with; the broker adds bad_envelope, deadline_exceeded and internal. */
export type OperationErrorCode = "validation" | "not_found" | "forbidden" | "conflict" | "key_reused" | "in_progress" | "unavailable"

export const codeOf = (error: OperationError): OperationErrorCode => {
  switch (error._tag) {
    case "ValidationFailed":
      return "validation"
    case "NotFound":
      return "not_found"
    case "Forbidden":
      return "forbidden"
    case "Conflict":
      return "conflict"
    case "KeyReused":
      return "key_reused"
    case "InProgress":
      return "in_progress"
    case "Unavailable":
      return "unavailable"
  }
}
