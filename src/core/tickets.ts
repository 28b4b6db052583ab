import { Cause, Duration, Effect, Either, Exit, FiberSet, Schedule, Schema } from "effect"
import { randomUUID } from "node:crypto"
import type { Row } from "../adapters/port.js"
import type { ClaimedJob, JobEnd, TicketStore } from "../adapters/tickets.js"
import type { TicketsSettings } from "../config/schema.js"
import { cappedExponential } from "../kernel/backoff.js"
import { reasonOf } from "../kernel/errors.js"
import { Request, type Caller, type Lineage } from "../protocol/envelope.js"
import { codeOf, Unavailable, type OperationError } from "../protocol/errors.js"
import { LogPublisher } from "../transport/publisher.js"
import { childLineage, type NodeIdentity } from "./capabilities.js"
import { ticketView, type TicketView } from "./ticket-view.js"

export interface TicketsOptions {
  readonly settings: TicketsSettings
  /** This node serves route `job`: it takes jobs over from nodes that stopped, and sweeps old tickets. */
  readonly runsJobs: boolean
  readonly retry: { readonly transientRetries: number; readonly baseDelayMs: number; readonly maxDelayMs: number }
}

/** A node that runs no jobs of its own (tests of the factory): tickets are recorded and run where submitted. */
export const noJobRunner: TicketsOptions = {
  settings: { keep_s: 86_400, lease_s: 30, max_attempts: 3, claim_interval_s: 0, concurrency: 4, sweep_interval_s: 0 },
  runsJobs: false,
  retry: { transientRetries: 0, baseDelayMs: 50, maxDelayMs: 1_000 }
}

/** Runs a submitted request as its job: everything the factory does but the route and ticket checks. */
export type Execute = (request: Request) => Effect.Effect<unknown, OperationError>

const decodeStored = Schema.decodeUnknownEither(Schema.parseJson(Request))
const TICKET_HEADER = "x-beds-ticket"
const SWEEP_BATCH = 1_000

/**
 * Async tickets (the seeds' CALGON pattern; docs/protocol.md, Tickets). `submit` records a ticket in
 * the ticket store and answers it at once; the job then runs beside the message path (the delivery is
 * acked with the reply), under a lease renewed every third of `lease_s`. A node that serves route
 * `job` also takes over jobs whose lease ran out (their node stopped) and sweeps old tickets. A job
 * runs the submitted request as it was, so a mutation keeps its idempotency scope and its effect
 * happens once however often the job is started.
 */
export const makeTickets = (identity: NodeIdentity, store: TicketStore | undefined, execute: Execute, options: TicketsOptions) =>
  Effect.gen(function*() {
    const publisher = yield* LogPublisher
    const { settings } = options
    // Unique per process: a node restarted under the same id does not hold its predecessor's leases.
    const owner = `${identity.node.slice(0, 27)}.${randomUUID()}`
    const slots = yield* Effect.makeSemaphore(settings.concurrency)
    const jobs = yield* FiberSet.make<void, never>()
    const runFork = yield* FiberSet.runtime(jobs)<never>()
    const retrySchedule = cappedExponential(options.retry.baseDelayMs, options.retry.maxDelayMs).pipe(
      Schedule.intersect(Schedule.recurs(options.retry.transientRetries))
    )
    const retried = <A, E extends { readonly _tag: string }>(effect: Effect.Effect<A, E>) =>
      Effect.retry(effect, { schedule: retrySchedule, while: (error) => error._tag === "Unavailable" })
    const beatEvery = Duration.millis(Math.max(1, Math.floor((settings.lease_s * 1000) / 3)))

    /** How a job's run ended, as the ticket records it. Interrupted (shutdown): undefined, the lease brings it back. */
    const endOf = (exit: Exit.Exit<unknown, OperationError>, ticketId: string): Effect.Effect<JobEnd | undefined> => {
      if (Exit.isSuccess(exit)) {
        try {
          return Effect.succeed({ status: "done", result: JSON.stringify(exit.value ?? null) })
        } catch (thrown) {
          return Effect.as(Effect.logError(`job result not encodable as JSON: ${reasonOf(thrown)}`), internalEnd(ticketId))
        }
      }
      const failure = Cause.failureOption(exit.cause)
      if (failure._tag === "Some") return Effect.succeed({ status: "failed", code: codeOf(failure.value), message: failure.value.message })
      if (Cause.isInterruptedOnly(exit.cause)) return Effect.succeed(interrupted)
      return Effect.as(Effect.logError("defect while running a job", exit.cause), internalEnd(ticketId))
    }

    const notify = (job: ClaimedJob, lineage: Lineage) =>
      job.notifyTo === null || store === undefined ? Effect.void : store.get(job.ticketId).pipe(
        Effect.flatMap((row) => ticketView(job.ticketId, row, "any")),
        Effect.flatMap((view) =>
          publisher.toQueue(job.notifyTo!, { version: 1, status: "ok", data: view, lineage }, {
            correlationId: job.ticketId,
            headers: { [TICKET_HEADER]: job.ticketId }
          })),
        Effect.tap(() => Effect.logDebug(`ticket notice sent to ${job.notifyTo}`)),
        Effect.catchAll((error) => Effect.logWarning(`ticket notice to ${job.notifyTo} not sent: ${error.message}`))
      )

    /** Runs a claimed job to its end, renewing its lease meanwhile; then records the end and sends the notice. */
    const runJob = (live: TicketStore, job: ClaimedJob): Effect.Effect<void> => {
      const lineage: Lineage = { eventId: job.ticketId, parentId: job.parentId, depth: job.depth }
      const heartbeat = live.beat(job.ticketId, owner, settings.lease_s).pipe(
        Effect.flatMap((held) => held ? Effect.void : Effect.logWarning("job lease lost: another node took the job over")),
        Effect.catchAll((error) => Effect.logWarning(`job lease not renewed: ${error.message}`)),
        Effect.repeat(Schedule.spaced(beatEvery)),
        Effect.delay(beatEvery)
      )
      const run = Effect.gen(function*() {
        const decoded = decodeStored(job.request)
        const exit = Either.isLeft(decoded)
          ? Exit.die(new Error(`the stored request does not decode: ${decoded.left.message}`))
          : yield* Effect.exit(retried(execute(decoded.right)))
        const end = yield* endOf(exit, job.ticketId)
        if (end === undefined) return false
        const ended = yield* retried(live.finish(job.ticketId, owner, end))
        if (!ended) yield* Effect.logWarning("job ended after its lease was lost: the node that took it over records the outcome")
        else yield* Effect.logInfo(`job ${end.status}`)
        return ended
      })
      // Claimed as failed: it was started too often, and the claim ended it.
      const ended = job.status === "failed" ? Effect.succeed(true) : Effect.scoped(Effect.zipRight(Effect.forkScoped(heartbeat), run))
      return ended.pipe(
        Effect.flatMap((ended) => (ended ? notify(job, lineage) : Effect.void)),
        Effect.catchAllCause((cause) => Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError("job not ended: its lease brings it back", cause)),
        Effect.annotateLogs({ ticket: job.ticketId, eventId: lineage.eventId, parentId: lineage.parentId, depth: lineage.depth, attempt: job.attempts })
      )
    }

    /** Claims `ticketId` (or, null, any job left for the taking) and runs it in a free slot. */
    const claimAndRun = (live: TicketStore, ticketId: string | null) =>
      Effect.flatMap(live.claim(ticketId, owner, settings.lease_s, settings.max_attempts), (job) =>
        job === undefined ? Effect.succeed(false) : Effect.as(runJob(live, job), true))

    const submit = (request: Request, template: string, op: string): Effect.Effect<TicketView, OperationError> => {
      if (store === undefined) return Effect.fail(new Unavailable({ message: "tickets: this node has no MariaDB, where tickets are kept" }))
      const lineage = childLineage(identity, request.lineage)
      return store.open({
        ticketId: lineage.eventId,
        scope: request.lineage.eventId,
        template,
        op,
        callerId: request.caller?.id ?? null,
        request: JSON.stringify(request),
        notifyTo: request.notify ?? null,
        parentId: lineage.parentId,
        depth: lineage.depth,
        keepS: settings.keep_s
      }).pipe(
        Effect.flatMap((row: Row) => ticketView(lineage.eventId, row, "any")),
        // A new ticket's job starts here once a slot is free, beside the message (whose reply and ack go on at once).
        Effect.tap((view) =>
          view.status === "pending"
            ? Effect.sync(() => void runFork(slots.withPermits(1)(Effect.ignoreLogged(claimAndRun(store, view.ticket_id)))))
            : Effect.void
        )
      )
    }

    /** A poll: the ticket the tickets template's fetch read (`rows`), as `caller` may see it. */
    const poll = (ticketId: string, caller: Caller | undefined, rows: Effect.Effect<ReadonlyArray<Row>, OperationError>) =>
      Effect.flatMap(rows, (found) => ticketView(ticketId, found[0], caller))

    if (options.runsJobs && store !== undefined) {
      // Take over jobs left for the taking while a slot is free; a slot is held from the claim to the job's end.
      const takeOne = Effect.uninterruptibleMask((restore) =>
        Effect.zipRight(
          restore(slots.take(1)),
          Effect.matchCauseEffect(restore(store.claim(null, owner, settings.lease_s, settings.max_attempts)), {
            onFailure: (cause) => Effect.zipRight(slots.release(1), Effect.failCause(cause)),
            onSuccess: (job) =>
              job === undefined
                ? Effect.as(slots.release(1), false)
                : Effect.as(Effect.sync(() => void runFork(Effect.ensuring(runJob(store, job), slots.release(1)))), true)
          })
        )
      )
      if (settings.claim_interval_s > 0) {
        yield* Effect.repeat(takeOne, { while: (took) => took }).pipe(
          Effect.catchAll((error) => Effect.logWarning(`tickets: taking jobs over: ${error.message}`)),
          Effect.repeat(Schedule.spaced(Duration.seconds(settings.claim_interval_s))),
          Effect.forkScoped
        )
      }
      if (settings.sweep_interval_s > 0) {
        yield* store.sweep(SWEEP_BATCH).pipe(
          Effect.tap((removed) => removed > 0 ? Effect.logInfo(`tickets sweep: ${removed} expired tickets removed`) : Effect.void),
          Effect.catchAll((error) => Effect.logWarning(`tickets sweep: ${error.message}`)),
          Effect.repeat(Schedule.spaced(Duration.seconds(settings.sweep_interval_s))),
          Effect.delay(Duration.seconds(settings.sweep_interval_s)),
          Effect.forkScoped
        )
      }
    }
    return { submit, poll }
  })

const interrupted: JobEnd | undefined = undefined
const internalEnd = (ticketId: string): JobEnd => ({ status: "failed", code: "internal", message: `internal error (reference ${ticketId})` })
