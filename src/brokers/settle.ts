import { errorCatalog, type ErrorCode, type OperationErrorCode } from "../protocol/errors.js"
import { PROTOCOL_VERSION, type Lineage, type Reply } from "../protocol/envelope.js"

/** How handling one message ended, before anything is sent. */
export type Outcome =
  | { readonly _tag: "Succeeded"; readonly data: unknown }
  | { readonly _tag: "Failed"; readonly code: OperationErrorCode | "deadline_exceeded"; readonly message: string }
  | { readonly _tag: "Refused"; readonly reason: string }
  | { readonly _tag: "Defect"; readonly reference: string }

export interface Settlement {
  readonly reply: Reply
  /** Set when the message goes to the dead-letter queue (with this reason) instead of being acked. */
  readonly deadLetter: { readonly code: ErrorCode; readonly reason: string } | undefined
  /** A defect: the broker fiber that saw it is replaced once in-flight work is done. */
  readonly replaceBroker: boolean
}

const errorReply = (code: ErrorCode, message: string, lineage: Lineage | undefined): Reply => ({
  version: PROTOCOL_VERSION,
  status: "error",
  error: { code, tag: errorCatalog[code].tag, message, retryable: errorCatalog[code].retryable },
  ...(lineage === undefined ? {} : { lineage })
})

/**
 * The ack/nack policy, as one function of the outcome (its table is errorCatalog, mirrored in
 * docs/protocol.md). Every message gets a reply when it has a replyTo; nothing is ever requeued,
 * so no message can loop.
 */
export const settle = (outcome: Outcome, lineage: Lineage | undefined): Settlement => {
  switch (outcome._tag) {
    case "Succeeded":
      return {
        reply: { version: PROTOCOL_VERSION, status: "ok", data: outcome.data, lineage: lineage! },
        deadLetter: undefined,
        replaceBroker: false
      }
    case "Failed": {
      const deadLetter = errorCatalog[outcome.code].settlement === "dead_letter"
        ? { code: outcome.code, reason: outcome.message }
        : undefined
      return { reply: errorReply(outcome.code, outcome.message, lineage), deadLetter, replaceBroker: false }
    }
    case "Refused":
      return {
        reply: errorReply("bad_envelope", outcome.reason, undefined),
        deadLetter: { code: "bad_envelope", reason: outcome.reason },
        replaceBroker: false
      }
    case "Defect":
      return {
        // The defect's details stay in the node's log; the caller gets a reference to find them.
        reply: errorReply("internal", `internal error (reference ${outcome.reference})`, lineage),
        deadLetter: { code: "internal", reason: `defect (see the node log for ${outcome.reference})` },
        replaceBroker: true
      }
  }
}
