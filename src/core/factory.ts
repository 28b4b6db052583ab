import { Context, Effect, Layer } from "effect"
import { Dispatch } from "../brokers/dispatch.js"
import type { Caller, Request } from "../protocol/envelope.js"
import { Forbidden, NotFound, Unavailable, ValidationFailed } from "../protocol/errors.js"
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
    const run = Effect.fnUntraced(function*(request: Request, route: string) {
      const compiled = registry.get(request.template)
      if (compiled === undefined) return yield* new NotFound({ message: `template ${request.template} is not loaded on this node` })
      const { template } = compiled
      const operation = compiled.operations.get(request.op)
      if (operation === undefined) return yield* new NotFound({ message: `template ${template.name} has no operation ${request.op}` })
      const expectedRoute = template.routes[operation.kind]
      if (route !== expectedRoute) {
        return yield* new ValidationFailed({
          message: `${template.name}.${operation.op} is a ${operation.kind}: send it on route ${expectedRoute}, not ${route}`
        })
      }
      if (!allowed(operation.allow, request.caller)) {
        return yield* new Forbidden({ message: `caller may not run ${template.name}.${operation.op}` })
      }
      const decoded = operation.decode(request[operation.input] ?? {})
      if (decoded._tag === "Left") {
        return yield* new ValidationFailed({ message: `${operation.input}.${describeProblem(firstProblem(decoded.left.issue))}` })
      }
      const adapter = adapters[template.adapter]
      if (adapter === undefined) return yield* new Unavailable({ message: `adapter ${template.adapter} is not configured on this node` })
      const call = { template, object: operation.object, values: decoded.right, params: operation.params }
      switch (operation.standard) {
        case "create": {
          const created = yield* adapter.createRecord(call)
          yield* capabilities.afterWrite(template, operation.op, request, call, null, created)
          return created
        }
        case "fetch": {
          // A fetch selects by the key: nothing there is not_found, whichever store said so.
          const rows = yield* capabilities.fetch(template, call, adapter)
          if (rows.length === 0) {
            return yield* new NotFound({ message: `no ${template.name} with ${template.key} ${JSON.stringify(call.values[template.key])}` })
          }
          return rows
        }
        case "update": {
          const before = yield* capabilities.before(template, call, adapter)
          const updated = yield* adapter.updateRecord(call)
          yield* capabilities.afterWrite(template, operation.op, request, call, before, updated)
          return updated
        }
        case "delete": {
          const before = yield* capabilities.before(template, call, adapter)
          const deleted = yield* adapter.deleteRecord(call)
          yield* capabilities.afterWrite(template, operation.op, request, call, before, null)
          return deleted
        }
        case undefined: {
          const result = yield* adapter.callOperation({ ...call, kind: operation.kind })
          if (operation.kind === "write") yield* capabilities.afterWrite(template, operation.op, request, call, null, null)
          return result
        }
      }
    })
    return Dispatch.of({ run })
  })
)
