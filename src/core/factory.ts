import { Context, Effect, Layer } from "effect"
import { thenNow } from "./already-done.js"
import { Dispatch } from "../brokers/dispatch.js"
import type { Caller, Request } from "../protocol/envelope.js"
import { Forbidden, NotFound, Unavailable, ValidationFailed, type OperationError } from "../protocol/errors.js"
import type { AdapterName } from "../templates/schema.js"
import { TemplateRegistry } from "../templates/registry.js"
import { makeCapabilities, type NodeIdentity } from "./capabilities.js"
import type { NamasteCoreService } from "./namaste-core.js"
import { describeProblem, firstProblem } from "./parse-issue.js"

/** The adapters this node has, by name; a template whose adapter is missing is unavailable here. */
export class Adapters extends Context.Tag("beds/Adapters")<Adapters, Partial<Record<AdapterName, NamasteCoreService>>>() {}

const allowed = (allow: ReadonlyArray<string>, caller: Caller | undefined) =>
  allow.includes("*") || (caller !== undefined && caller.roles.some((role) => allow.includes(role)))

/**
 * The factory (the seeds' grabWidget): template name -> compiled template -> adapter, at run time.
 * Everything about the request is checked here before an adapter sees it: the template and
 * operation exist, the route matches the operation's kind, the caller may run it, and its values
 * decode with the template's Schema.
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
      const expectedRoute = template.routes[operation.kind]
      if (route !== expectedRoute) {
        return Effect.fail(new ValidationFailed({
          message: `${template.name}.${operation.op} is a ${operation.kind}: send it on route ${expectedRoute}, not ${route}`
        }))
      }
      if (!allowed(operation.allow, request.caller)) {
        return Effect.fail(new Forbidden({ message: `caller may not run ${template.name}.${operation.op}` }))
      }
      const decoded = operation.decode(request[operation.input] ?? {})
      if (decoded._tag === "Left") {
        return Effect.fail(new ValidationFailed({ message: `${operation.input}.${describeProblem(firstProblem(decoded.left.issue))}` }))
      }
      const adapter = adapters[template.adapter]
      if (adapter === undefined) return Effect.fail(new Unavailable({ message: `adapter ${template.adapter} is not configured on this node` }))
      const call = { template, object: operation.object, values: decoded.right, params: operation.params }
      switch (operation.standard) {
        case "create":
          return Effect.tap(adapter.createRecord(call), (created) => capabilities.afterWrite(template, operation.op, request, call, null, created))
        case "fetch":
          // A fetch selects by the key: nothing there is not_found, whichever store said so. A
          // read-cache hit stays done through this step (thenNow): the handler needs no fiber.
          return thenNow(capabilities.fetch(template, call, adapter), (rows) =>
            rows.length === 0
              ? Effect.fail(new NotFound({ message: `no ${template.name} with ${template.key} ${JSON.stringify(call.values[template.key])}` }))
              : Effect.succeed(rows))
        case "update":
          return Effect.flatMap(capabilities.before(template, call, adapter), (before) =>
            Effect.tap(adapter.updateRecord(call), (updated) => capabilities.afterWrite(template, operation.op, request, call, before, updated)))
        case "delete":
          return Effect.flatMap(capabilities.before(template, call, adapter), (before) =>
            Effect.tap(adapter.deleteRecord(call), () => capabilities.afterWrite(template, operation.op, request, call, before, null)))
        case undefined: {
          const result = adapter.callOperation({ ...call, kind: operation.kind })
          return operation.kind === "write"
            ? Effect.tap(result, () => capabilities.afterWrite(template, operation.op, request, call, null, null))
            : result
        }
      }
    }
    return Dispatch.of({ run })
  })
)
