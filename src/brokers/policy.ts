import type { Cause } from "effect"
import { PROTOCOL_VERSION, type Lineage, type Reply } from "../protocol/envelope.js"
import { errorCatalog, type ErrorCode } from "../protocol/errors.js"

/** How handling one message ended, before anything is sent. */
export type Outcome =
  | { readonly _tag: "Succeeded"; readonly data: unknown }
  | { readonly _tag: "Failed"; readonly code: Exclude<ErrorCode, "bad_envelope" | "internal">; readonly message: string }
  /** Not a request the node takes: a bad envelope (dead-lettered) or too large (not kept anywhere). */
  | { readonly _tag: "Refused"; readonly code: "bad_envelope" | "too_large"; readonly reason: string }
  /** A bug: its cause goes to the node's log under `reference`; the caller gets the reference only. */
  | { readonly _tag: "Defect"; readonly reference: string; readonly cause: Cause.Cause<unknown> }

/** What settling a message sends, and what becomes of the broker. */
export interface Settlement {
  readonly reply: Reply
  /** Set when the message also goes to the dead-letter queue, with this code and reason. */
  readonly deadLetter: { readonly code: ErrorCode; readonly reason: string } | undefined
  /** A defect: the broker that saw it is replaced once its in-flight messages are done. */
  readonly replaceBroker: boolean
}

const errorReply = (code: ErrorCode, message: string, lineage: Lineage | undefined): Reply => ({
  version: PROTOCOL_VERSION,
  status: "error",
  error: { code, tag: errorCatalog[code].tag, message, retryable: errorCatalog[code].retryable },
  ...(lineage === undefined ? {} : { lineage })
})

/**
 * The ack/dead-letter policy, as one function of the outcome (its table is errorCatalog, mirrored
 * in docs/protocol.md). Every message gets a reply when it can be answered and is then acked, or
 * also dead-lettered; nothing is ever requeued, so no message can loop.
 */
export const settlementOf = (outcome: Outcome, lineage: Lineage | undefined): Settlement => {
  switch (outcome._tag) {
    case "Succeeded":
      return {
        reply: { version: PROTOCOL_VERSION, status: "ok", data: outcome.data, lineage: lineage! },
        deadLetter: undefined,
        replaceBroker: false
      }
    case "Failed": {
      const deadLetter = errorCatalog[outcome.code].disposition === "dead_letter"
        ? { code: outcome.code, reason: outcome.message }
        : undefined
      return { reply: errorReply(outcome.code, outcome.message, lineage), deadLetter, replaceBroker: false }
    }
    case "Refused":
      return {
        reply: errorReply(outcome.code, outcome.reason, lineage),
        deadLetter: errorCatalog[outcome.code].disposition === "dead_letter" ? { code: outcome.code, reason: outcome.reason } : undefined,
        replaceBroker: false
      }
    case "Defect":
      return {
        reply: errorReply("internal", `internal error (reference ${outcome.reference})`, lineage),
        deadLetter: { code: "internal", reason: `defect (see the node log for ${outcome.reference})` },
        replaceBroker: true
      }
  }
}
