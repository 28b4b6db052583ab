import { Effect, Layer } from "effect"
import { Adapters } from "../adapters/adapters.js"
import type { CoreCall, NamasteCoreService, Recorded, Row, WriteKind } from "../adapters/port.js"
import { describeProblem, firstProblem } from "../kernel/parse-issue.js"
import type { Caller, Request } from "../protocol/envelope.js"
import { Conflict, Forbidden, NotFound, Unavailable, ValidationFailed, type OperationError } from "../protocol/errors.js"
import { TemplateRegistry } from "../templates/registry.js"
import { makeCapabilities, type NodeIdentity } from "./capabilities.js"
import { Dispatch } from "./dispatch.js"
import { makeDbCall } from "./instrument.js"
import { onceOf } from "./once.js"

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

const allowed = (allow: ReadonlyArray<string>, caller: Caller | undefined) =>
  allow.includes("*") || (caller !== undefined && caller.roles.some((role) => allow.includes(role)))

/**
 * The factory (the seeds' grabWidget): template name -> compiled template -> adapter, at run time.
 * Everything about the request is checked here before an adapter sees it: the template and
 * operation exist, the route matches the operation's kind, the caller may run it, the values come
 * in the part of the envelope the operation reads, and they decode with the template's Schema.
 */
export const FactoryLive = (identity: NodeIdentity, options: { readonly idempotencyRetentionS: number; readonly tracing: boolean }) => Layer.effect(
  Dispatch,
  Effect.gen(function*() {
    const registry = yield* TemplateRegistry
    const adapters = yield* Adapters
    const dbCall = makeDbCall(options.tracing)
    const capabilities = yield* makeCapabilities(identity, dbCall)
    const retentionS = options.idempotencyRetentionS
    // Plain combinators, not a generator: this runs for every message, and a generator's
    // iteration was a measurable share of the node's CPU per request (BENCHMARKS.md).
    const run = (request: Request, route: string): Effect.Effect<unknown, OperationError> => {
      const compiled = registry.get(request.template)
      if (compiled === undefined) return Effect.fail(new NotFound({ message: `template ${request.template} is not loaded on this node` }))
      const { template } = compiled
      const operation = compiled.operations.get(request.op)
      if (operation === undefined) return Effect.fail(new NotFound({ message: `template ${template.name} has no operation ${request.op}` }))
      const name = `${template.name}.${operation.op}`
      const expectedRoute = template.routes[operation.kind]
      if (route !== expectedRoute) {
        return Effect.fail(new ValidationFailed({ message: `${name} is a ${operation.kind}: send it on route ${expectedRoute}, not ${route}` }))
      }
      if (!allowed(operation.allow, request.caller)) return Effect.fail(new Forbidden({ message: `caller may not run ${name}` }))
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
      const call = { template, object: operation.object, values: decoded.right, params: operation.params }
      switch (operation.standard) {
        case "fetch":
          // Returned as it is: a read-cache hit stays already done (the Dispatch port's fast path).
          return capabilities.fetch(template, call, adapter)
        case undefined:
          if (operation.kind === "read") return dbCall(template.adapter, call.object, "read", adapter.readNamed(call))
          return write(request, call, operation.op, "named", adapter)
        default:
          return write(request, call, operation.op, operation.standard, adapter)
      }
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
      return dbCall(template.adapter, call.object, kind, adapter.write(call, kind, once, { before })).pipe(
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
    return Dispatch.of({ run, mutates })
  })
)
