import { Effect, Layer } from "effect"
import { Adapters } from "../adapters/adapters.js"
import type { CoreCall, NamasteCoreService, Recorded, Row, WriteKind } from "../adapters/port.js"
import { describeProblem, firstProblem } from "../kernel/parse-issue.js"
import type { Request } from "../protocol/envelope.js"
import { Conflict, Forbidden, NotFound, Unavailable, ValidationFailed, type OperationError } from "../protocol/errors.js"
import { JOB_ROUTE, TICKETS_TEMPLATE } from "../protocol/routing.js"
import { type CompiledOperation, mayRun, TemplateRegistry } from "../templates/registry.js"
import { makeCapabilities, type NodeIdentity } from "./capabilities.js"
import { Dispatch } from "./dispatch.js"
import { makeDbCall } from "./instrument.js"
import { onceOf } from "./once.js"
import { makeTickets, noJobRunner, type TicketsOptions } from "./tickets.js"

/** A request that passed every check: its operation, the adapter and the call to make. */
interface Prepared {
  readonly operation: CompiledOperation
  readonly adapter: NamasteCoreService
  readonly call: CoreCall
}

/** A recorded caller error, as the error it was. */
const errorOf = (recorded: Extract<Recorded, { readonly ok: false }>): OperationError => {
  switch (recorded.code) {
    case "conflict":
      return new Conflict({ message: recorded.message })
    case "not_found":
      return new NotFound({ message: recorded.message })
    case "validation":
      return new ValidationFailed({ message: recorded.message })
  }
}

/**
 * The factory (the seeds' grabWidget): template name -> compiled template -> adapter, at run time.
 * Everything about the request is checked here before an adapter sees it: the template and
 * operation exist, the route matches the operation's kind (route `job` for a ticket), the caller
 * may run it, the values come in the part of the envelope the operation reads, and they decode
 * with the template's Schema. A ticket is then recorded and answered (core/tickets.ts); its job
 * runs the same request through `execute`, without the route checks.
 */
export const FactoryLive = (
  identity: NodeIdentity,
  options: { readonly idempotencyRetentionS: number; readonly tracing: boolean; readonly tickets?: TicketsOptions }
) => Layer.scoped(
  Dispatch,
  Effect.gen(function*() {
    const registry = yield* TemplateRegistry
    const adapters = yield* Adapters
    const dbCall = makeDbCall(options.tracing)
    const capabilities = yield* makeCapabilities(identity, dbCall)
    const retentionS = options.idempotencyRetentionS
    /**
     * The checks every request passes; `route` undefined is a ticket's job (checked when it was
     * submitted). A refusal is a failed Effect; what passed is the operation, ready to run.
     */
    const prepare = (request: Request, route: string | undefined): Effect.Effect<never, OperationError> | Prepared => {
      const compiled = registry.get(request.template)
      if (compiled === undefined) return Effect.fail(new NotFound({ message: `template ${request.template} is not loaded on this node` }))
      const { template } = compiled
      const operation = compiled.operations.get(request.op)
      if (operation === undefined) return Effect.fail(new NotFound({ message: `template ${template.name} has no operation ${request.op}` }))
      const name = `${template.name}.${operation.op}`
      const expectedRoute = template.routes[operation.kind]
      const ticket = request.ticket === true || operation.longRunning
      if (route === JOB_ROUTE) {
        if (!ticket) {
          return Effect.fail(new ValidationFailed({ message: `route ${JOB_ROUTE} takes tickets: set "ticket": true, or send ${name} on route ${expectedRoute}` }))
        }
      } else if (route !== undefined) {
        if (ticket) {
          return Effect.fail(new ValidationFailed({
            message: `${name} ${operation.longRunning ? "is long-running" : "asks for a ticket"}: send it on route ${JOB_ROUTE}`
          }))
        }
        if (request.notify !== undefined) return Effect.fail(new ValidationFailed({ message: `notify is for tickets: send ${name} on route ${JOB_ROUTE} with "ticket": true` }))
        if (route !== expectedRoute) {
          return Effect.fail(new ValidationFailed({ message: `${name} is a ${operation.kind}: send it on route ${expectedRoute}, not ${route}` }))
        }
      }
      if (!mayRun(operation, request.caller)) return Effect.fail(new Forbidden({ message: `caller may not run ${name}` }))
      const unread = operation.input === "data" ? "query" : "data"
      if (request[unread] !== undefined) {
        return Effect.fail(new ValidationFailed({ message: `${name} takes its values in ${operation.input}, not ${unread}` }))
      }
      const decoded = operation.decode(request[operation.input] ?? {})
      if (decoded._tag === "Left") {
        return Effect.fail(new ValidationFailed({ message: `${operation.input}.${describeProblem(firstProblem(decoded.left.issue))}` }))
      }
      const adapter = adapters[template.adapter]
      if (adapter === undefined) return Effect.fail(new Unavailable({ message: `adapter ${template.adapter} is not available on this node` }))
      return { operation, adapter, call: { template, object: operation.object, values: decoded.right, params: operation.params } }
    }

    /** A prepared operation, run. */
    const perform = (request: Request, { adapter, call, operation }: Prepared): Effect.Effect<unknown, OperationError> => {
      const { template } = call
      switch (operation.standard) {
        case "fetch":
          if (template.name === TICKETS_TEMPLATE) {
            return tickets.poll(String(call.values[template.key]), request.caller, dbCall(template.adapter, call.object, "fetch", adapter.fetchRecords(call), request.lineage))
          }
          // Returned as it is: a read-cache hit stays already done (the Dispatch port's fast path).
          return capabilities.fetch(template, call, adapter, request.lineage)
        case undefined:
          if (operation.kind === "read") return dbCall(template.adapter, call.object, "read", adapter.readNamed(call), request.lineage)
          return write(request, call, operation.op, "named", adapter)
        default:
          return write(request, call, operation.op, operation.standard, adapter)
      }
    }

    // Plain combinators, not a generator: this runs for every message, and a generator's
    // iteration was a measurable share of the node's CPU per request (BENCHMARKS.md).
    const run = (request: Request, route: string): Effect.Effect<unknown, OperationError> => {
      const prepared = prepare(request, route)
      if (Effect.isEffect(prepared)) return prepared
      if (route === JOB_ROUTE) return tickets.submit(request, prepared.call.template.name, prepared.operation.op)
      return perform(request, prepared)
    }
    const execute = (request: Request): Effect.Effect<unknown, OperationError> => {
      const prepared = prepare(request, undefined)
      return Effect.isEffect(prepared) ? prepared : perform(request, prepared)
    }

    /**
     * A mutation, exactly once per idempotency scope (core/once.ts): the adapter writes and records
     * the outcome together, or returns the recorded outcome of an earlier run. Once it starts it is
     * not interrupted (a deadline or a shutdown waits for it), so a write that happened always gets
     * its cache invalidation, audit and journal, and an honest reply.
     */
    const write = (request: Request, call: CoreCall, op: string, kind: WriteKind, adapter: NamasteCoreService): Effect.Effect<unknown, OperationError> => {
      const { template } = call
      const before = template.capabilities.journal && (kind === "update" || kind === "delete") ? template.operations.fetch?.object : undefined
      const once = onceOf(request, template.name, op, call.values, retentionS)
      return dbCall(template.adapter, call.object, kind, adapter.write(call, kind, once, { before }), request.lineage).pipe(
        Effect.flatMap((written) => {
          const { recorded } = written
          if (!recorded.ok) return Effect.fail(errorOf(recorded))
          if (written.replayed) return Effect.succeed(recorded.data)
          const after = kind === "create" || kind === "update" ? recorded.data as Row : null
          return Effect.as(capabilities.afterWrite(template, op, request, call, written.before, after), recorded.data)
        }),
        // Said only where a resend is safe: with the caller's own key, a resend returns the outcome.
        Effect.mapError((error) =>
          error._tag === "Unavailable" && request.idempotencyKey !== undefined
            ? new Unavailable({ message: `${error.message} (the write may have been applied: a resend with the same idempotencyKey returns its outcome)` })
            : error
        ),
        Effect.uninterruptible
      )
    }
    const mutates = (request: Request) => registry.get(request.template)?.operations.get(request.op)?.kind === "write"
    const tickets = yield* makeTickets(identity, adapters.mariadb?.tickets, execute, options.tickets ?? noJobRunner)
    return Dispatch.of({ run, mutates })
  })
)
