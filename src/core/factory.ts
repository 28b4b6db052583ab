import { Effect, Layer } from "effect"
import { Adapters } from "../adapters/adapters.js"
import type { Row } from "../adapters/port.js"
import { describeProblem, firstProblem } from "../kernel/parse-issue.js"
import type { Caller, Request } from "../protocol/envelope.js"
import { Forbidden, NotFound, Unavailable, ValidationFailed, type OperationError } from "../protocol/errors.js"
import { TemplateRegistry } from "../templates/registry.js"
import { makeCapabilities, type NodeIdentity } from "./capabilities.js"
import { Dispatch } from "./dispatch.js"

const allowed = (allow: ReadonlyArray<string>, caller: Caller | undefined) =>
  allow.includes("*") || (caller !== undefined && caller.roles.some((role) => allow.includes(role)))

/**
 * The factory (the seeds' grabWidget): template name -> compiled template -> adapter, at run time.
 * Everything about the request is checked here before an adapter sees it: the template and
 * operation exist, the route matches the operation's kind, the caller may run it, the values come
 * in the part of the envelope the operation reads, and they decode with the template's Schema.
 */
export const FactoryLive = (identity: NodeIdentity) => Layer.effect(
  Dispatch,
  Effect.gen(function*() {
    const registry = yield* TemplateRegistry
    const adapters = yield* Adapters
    const capabilities = yield* makeCapabilities(identity)
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
      const afterWrite = (before: Row | null, after: Row | null) => capabilities.afterWrite(template, operation.op, request, call, before, after)
      switch (operation.standard) {
        case "create":
          return Effect.tap(adapter.createRecord(call), (created) => afterWrite(null, created))
        case "fetch":
          // Returned as it is: a read-cache hit stays already done (the Dispatch port's fast path).
          return capabilities.fetch(template, call, adapter)
        case "update":
          return Effect.flatMap(capabilities.before(template, call, adapter), (before) =>
            Effect.tap(adapter.updateRecord(call), (updated) => afterWrite(before, updated)))
        case "delete":
          return Effect.flatMap(capabilities.before(template, call, adapter), (before) =>
            Effect.tap(adapter.deleteRecord(call), () => afterWrite(before, null)))
        case undefined: {
          const result = adapter.callOperation({ ...call, kind: operation.kind })
          return operation.kind === "write" ? Effect.tap(result, () => afterWrite(null, null)) : result
        }
      }
    }
    return Dispatch.of({ run })
  })
)
