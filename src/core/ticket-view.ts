import { Effect, Either, Schema } from "effect"
import type { Row } from "../adapters/port.js"
import type { Caller, Lineage, ReplyError } from "../protocol/envelope.js"
import { ErrorCode, errorCatalog } from "../protocol/errors.js"

/** A ticket as the protocol gives it (docs/protocol.md, Tickets): in a ticket reply, a poll and a notice. */
export interface TicketView {
  readonly ticket_id: string
  readonly status: "pending" | "running" | "done" | "failed" | "expired" | "unknown"
  readonly template: string | null
  readonly op: string | null
  readonly attempts: number | null
  readonly result: unknown
  readonly error: ReplyError | null
  readonly created_at: string | null
  readonly started_at: string | null
  readonly ended_at: string | null
  readonly expires_at: string | null
  readonly lineage: Lineage | null
}

const unknownTicket = (ticketId: string): TicketView => ({
  ticket_id: ticketId,
  status: "unknown",
  template: null,
  op: null,
  attempts: null,
  result: null,
  error: null,
  created_at: null,
  started_at: null,
  ended_at: null,
  expires_at: null,
  lineage: null
})

// A row of the tickets view (schema/beds/mariadb/beds_tickets.sql), decoded: it comes from outside the process.
const Time = Schema.NullOr(Schema.Union(Schema.DateFromSelf, Schema.String))
const TicketRow = Schema.Struct({
  ticket_id: Schema.String,
  status: Schema.Literal("pending", "running", "done", "failed", "expired"),
  template: Schema.String,
  op: Schema.String,
  caller_id: Schema.NullOr(Schema.String),
  attempts: Schema.Number,
  result: Schema.NullOr(Schema.String),
  error_code: Schema.NullOr(Schema.String),
  error_message: Schema.NullOr(Schema.String),
  parent_id: Schema.String,
  depth: Schema.Number,
  created_at: Time,
  started_at: Time,
  ended_at: Time,
  expires_at: Time
})
const decodeRow = Schema.decodeUnknownEither(TicketRow)
const decodeResult = Schema.decodeUnknownEither(Schema.parseJson())
const isErrorCode = Schema.is(ErrorCode)

const iso = (time: Date | string | null): string | null => (time instanceof Date ? time.toISOString() : time)

/**
 * The ticket a row of the tickets view holds, for `viewer`: a ticket submitted with a caller is
 * shown only to the same caller id (anyone else is told `unknown`, as for an id never issued);
 * `"any"` is the node itself (a completion notice). No row: `unknown`, never `pending`.
 */
export const ticketView = (ticketId: string, row: Row | undefined, viewer: Caller | undefined | "any"): Effect.Effect<TicketView> => {
  if (row === undefined) return Effect.succeed(unknownTicket(ticketId))
  const decoded = decodeRow(row)
  if (Either.isLeft(decoded)) return Effect.die(new Error(`tickets: a row of the tickets view does not decode: ${decoded.left.message}`))
  const ticket = decoded.right
  if (viewer !== "any" && ticket.caller_id !== null && ticket.caller_id !== viewer?.id) return Effect.succeed(unknownTicket(ticketId))
  let result: unknown = null
  if (ticket.status === "done" && ticket.result !== null) {
    const parsed = decodeResult(ticket.result)
    if (Either.isLeft(parsed)) return Effect.die(new Error(`tickets: ticket ${ticketId} holds a result that is not JSON`))
    result = parsed.right
  }
  const code = ticket.error_code !== null && isErrorCode(ticket.error_code) ? ticket.error_code : "internal"
  return Effect.succeed({
    ticket_id: ticket.ticket_id,
    status: ticket.status,
    template: ticket.template,
    op: ticket.op,
    attempts: ticket.attempts,
    result,
    error: ticket.status === "failed"
      ? { code, tag: errorCatalog[code].tag, message: ticket.error_message ?? "", retryable: errorCatalog[code].retryable }
      : null,
    created_at: iso(ticket.created_at),
    started_at: iso(ticket.started_at),
    ended_at: iso(ticket.ended_at),
    expires_at: iso(ticket.expires_at),
    lineage: { eventId: ticket.ticket_id, parentId: ticket.parent_id, depth: ticket.depth }
  })
}
