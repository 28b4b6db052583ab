import type { Effect } from "effect"
import type { Unavailable } from "../protocol/errors.js"
import type { Row } from "./port.js"

/** A ticket to record: the request its job runs (JSON), and who it answers to. */
export interface NewTicket {
  readonly ticketId: string
  /** The submitting request's eventId: a redelivered or resent submission finds the same ticket. */
  readonly scope: string
  readonly template: string
  readonly op: string
  readonly callerId: string | null
  /** The request envelope (JSON text) the job runs. */
  readonly request: string
  readonly notifyTo: string | null
  /** The ticket's lineage: a child of the submitting request. */
  readonly parentId: string
  readonly depth: number
  /** How long the ticket and its result are kept after the job ended. */
  readonly keepS: number
}

/** A job claimed by a node: `running` (the claimer runs it) or `failed` (it was started too often and ended here). */
export interface ClaimedJob {
  readonly ticketId: string
  readonly status: "running" | "failed"
  readonly request: string
  readonly attempts: number
  readonly notifyTo: string | null
  readonly parentId: string
  readonly depth: number
}

/** How a job ended: its reply data (JSON text), or the error it ended with. */
export type JobEnd =
  | { readonly status: "done"; readonly result: string }
  | { readonly status: "failed"; readonly code: string; readonly message: string }

/**
 * The ticket store (the seeds' CALGON pattern): tickets, their jobs' leases and their results, in a
 * database through the DBA's objects, never in a node's memory. Every time is the database's clock.
 * A ticket as a poll reads it is a Row of the `tickets` template's view (core/tickets.ts shapes it).
 */
export interface TicketStore {
  /** Records the ticket unless its scope has one; answers the scope's ticket as a poll reads it. */
  readonly open: (ticket: NewTicket) => Effect.Effect<Row, Unavailable>
  /** The ticket as a poll reads it, or undefined when there is none with that id. */
  readonly get: (ticketId: string) => Effect.Effect<Row | undefined, Unavailable>
  /**
   * Claims a job for `owner` for `leaseS`: the ticket `ticketId`, or (null) the oldest any node may
   * take (pending, or running with its lease run out). Undefined when there was none to claim.
   */
  readonly claim: (ticketId: string | null, owner: string, leaseS: number, maxAttempts: number) => Effect.Effect<ClaimedJob | undefined, Unavailable>
  /** Renews a held lease; false when the owner lost the job (its lease ran out and another node took it). */
  readonly beat: (ticketId: string, owner: string, leaseS: number) => Effect.Effect<boolean, Unavailable>
  /** Ends a held job; false when the owner had lost it (then the node that took it over ends it). */
  readonly finish: (ticketId: string, owner: string, end: JobEnd) => Effect.Effect<boolean, Unavailable>
  /** Removes up to `limit` long-expired tickets; answers how many. */
  readonly sweep: (limit: number) => Effect.Effect<number, Unavailable>
}
