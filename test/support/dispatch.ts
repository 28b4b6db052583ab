import { Context, Effect, Layer, Ref } from "effect"
import { Dispatch } from "../../src/core/dispatch.js"
import { Conflict, Forbidden, NotFound, Unavailable, ValidationFailed, type OperationError } from "../../src/protocol/errors.js"

/** Counts of what the test dispatch did, by template name. */
export class DispatchCalls extends Context.Tag("test/DispatchCalls")<DispatchCalls, Ref.Ref<Record<string, number>>>() {}

/**
 * A dispatch for broker tests, its behaviour chosen by the request's template:
 * echo (returns template, op, data, query), validation, not_found, forbidden, conflict,
 * transient (always Unavailable), slow (sleeps data.ms, then echoes), die (a defect inside the
 * Effect), throw (`run` itself throws, as a buggy dispatch might), unencodable (a reply JSON cannot
 * encode: a BigInt), cached (already done: `Effect.succeed` itself, as a read-cache hit is).
 */
export const TestDispatchLive = Layer.effect(
  Dispatch,
  Effect.map(DispatchCalls, (calls) =>
    Dispatch.of({
      run: (request) => {
        if (request.template === "throw") throw new Error("boom: a dispatch that throws instead of failing")
        if (request.template === "cached") return Effect.succeed({ cached: request.query ?? null })
        return Ref.update(calls, (c) => ({ ...c, [request.template]: (c[request.template] ?? 0) + 1 })).pipe(
          Effect.zipRight(Effect.suspend((): Effect.Effect<unknown, OperationError> => {
            const echo = { template: request.template, op: request.op, data: request.data ?? null, query: request.query ?? null }
            switch (request.template) {
              case "echo":
                return Effect.succeed(echo)
              case "validation":
                return Effect.fail(new ValidationFailed({ message: "field name: expected a string" }))
              case "not_found":
                return Effect.fail(new NotFound({ message: "no such record" }))
              case "forbidden":
                return Effect.fail(new Forbidden({ message: "caller may not" }))
              case "conflict":
                return Effect.fail(new Conflict({ message: "stale version" }))
              case "transient":
                return Effect.fail(new Unavailable({ message: "lock wait timeout" }))
              case "slow":
                return Effect.sleep(`${Number(request.data?.["ms"] ?? 100)} millis`).pipe(Effect.as(echo))
              case "die":
                return Effect.die(new Error("boom: a bug in an adapter"))
              case "unencodable":
                return Effect.succeed({ big: 10n })
              default:
                return Effect.fail(new NotFound({ message: `template ${request.template} is not loaded` }))
            }
          }))
        )
      },
      mutates: (request) => request.op !== "fetch"
    }))
).pipe(Layer.provideMerge(Layer.effect(DispatchCalls, Ref.make<Record<string, number>>({}))))
