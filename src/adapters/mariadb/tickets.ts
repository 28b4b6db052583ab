import { Effect, Either, Schema } from "effect"
import type { OperationError, Unavailable } from "../../protocol/errors.js"
import type { Row } from "../port.js"
import type { ClaimedJob, TicketStore } from "../tickets.js"

/** Runs one statement and answers its first result set (the adapter's `rows`, errors classified). */
type Rows = (text: string, values: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<Row>, OperationError>

// A claimed job as beds_ticket_claim answers it: decoded, since it comes from outside the process.
const Claimed = Schema.Struct({
  ticket_id: Schema.String,
  status: Schema.Literal("running", "failed"),
  request: Schema.String,
  attempts: Schema.Number,
  notify_to: Schema.NullOr(Schema.String),
  parent_id: Schema.String,
  depth: Schema.Number
})
const decodeClaimed = Schema.decodeUnknownEither(Claimed)
const noJob: ClaimedJob | undefined = undefined

/**
 * The ticket store on MariaDB (schema/beds/mariadb/beds_tickets.sql): procedures for every change,
 * the view `beds_tickets_v` for reads. Only a transient failure is a failure here; anything else
 * (a missing procedure, a row that does not decode) is a deployment defect, on purpose, as for the
 * idempotency store.
 */
export const makeMariaDbTickets = (rows: Rows): TicketStore => {
  const run = (text: string, values: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<Row>, Unavailable> =>
    Effect.catchAll(rows(text, values), (error) =>
      error._tag === "Unavailable" ? Effect.fail(error) : Effect.die(new Error(`mariadb tickets: ${error._tag}: ${error.message}`)))
  const count = (column: string) => (found: ReadonlyArray<Row>) => Number(found[0]?.[column] ?? 0)
  const claimedOf = (found: ReadonlyArray<Row>): Effect.Effect<ClaimedJob | undefined> => {
    if (found[0] === undefined) return Effect.succeed(noJob)
    const decoded = decodeClaimed(found[0])
    if (Either.isLeft(decoded)) return Effect.die(new Error(`mariadb tickets: a claimed job does not decode: ${decoded.left.message}`))
    const job = decoded.right
    return Effect.succeed({
      ticketId: job.ticket_id,
      status: job.status,
      request: job.request,
      attempts: job.attempts,
      notifyTo: job.notify_to,
      parentId: job.parent_id,
      depth: job.depth
    })
  }
  return {
    open: (ticket) =>
      Effect.flatMap(
        run("CALL beds_ticket_open(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [
          ticket.ticketId, ticket.scope, ticket.template, ticket.op, ticket.callerId, ticket.request, ticket.notifyTo,
          ticket.parentId, ticket.depth, ticket.keepS
        ]),
        (found) => found[0] === undefined ? Effect.die(new Error("mariadb tickets: beds_ticket_open answered no ticket")) : Effect.succeed(found[0])
      ),
    get: (ticketId) => Effect.map(run("SELECT * FROM beds_tickets_v WHERE ticket_id = ?", [ticketId]), (found) => found[0]),
    claim: (ticketId, owner, leaseS, maxAttempts) =>
      Effect.flatMap(run("CALL beds_ticket_claim(?, ?, ?, ?)", [ticketId, owner, leaseS, maxAttempts]), claimedOf),
    beat: (ticketId, owner, leaseS) =>
      Effect.map(run("CALL beds_ticket_beat(?, ?, ?)", [ticketId, owner, leaseS]), (found) => count("held")(found) > 0),
    finish: (ticketId, owner, end) =>
      Effect.map(
        run("CALL beds_ticket_finish(?, ?, ?, ?, ?, ?)", [
          ticketId, owner, end.status,
          end.status === "done" ? end.result : null,
          end.status === "failed" ? end.code : null,
          end.status === "failed" ? end.message : null
        ]),
        (found) => count("ended")(found) > 0
      ),
    sweep: (limit) => Effect.map(run("CALL beds_ticket_sweep(?)", [limit]), count("removed"))
  }
}
