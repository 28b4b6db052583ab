import { Effect, Exit, Layer } from "effect"
import { firstRun, recordedOf, replayOf } from "../../src/adapters/once.js"
import { completeRow, NamasteCore, type CoreCall, type NamasteCoreService, type Row, type WriteKind } from "../../src/adapters/port.js"
import { Conflict, NotFound, type OperationError } from "../../src/protocol/errors.js"

/** What the in-memory store saw: every call, by method, for tests that assert what reached the store. */
export interface MemoryCalls {
  readonly calls: Array<{ readonly method: keyof NamasteCoreService | "mutate"; readonly object: string }>
}

/**
 * The NamasteCore port in memory: records keyed by the template's key, with the same semantics the
 * real adapters keep (the port contract suite checks it against them): create refuses a duplicate
 * key, fetch selects by key, update and delete honour `version` when the template locks, a named
 * read returns the records whose params equal the given values, and a write runs once per scope
 * (the scope's outcome kept with it; it runs synchronously, so there is nothing to wait for).
 */
export const makeMemoryCore = (
  seen: MemoryCalls = { calls: [] },
  /** The objects that exist; unset: every object does. */
  objects?: ReadonlySet<string>
): Effect.Effect<NamasteCoreService> =>
  Effect.sync(() => {
    const tables = new Map<string, Map<unknown, Row>>()
    const outcomes = new Map<string, { readonly fingerprint: string; readonly outcome: string }>()
    const tableOf = (call: CoreCall) => {
      let table = tables.get(call.template.name)
      if (table === undefined) tables.set(call.template.name, table = new Map())
      return table
    }
    const note = (method: MemoryCalls["calls"][number]["method"], object: string) => seen.calls.push({ method, object })
    const locking = (call: CoreCall) => call.template.capabilities.optimistic_locking
    const key = (call: CoreCall) => call.values[call.template.key]
    const found = (call: CoreCall, table: Map<unknown, Row>): Effect.Effect<Row, OperationError> => {
      const row = table.get(key(call))
      if (row === undefined) return Effect.fail(new NotFound({ message: `no ${call.template.name} with that ${call.template.key}` }))
      if (locking(call) && call.values["version"] !== undefined && row["version"] !== call.values["version"]) {
        return Effect.fail(new Conflict({ message: "stale version" }))
      }
      return Effect.succeed(row)
    }
    const mutate = (call: CoreCall, kind: WriteKind): Effect.Effect<unknown, OperationError> => {
      note("mutate", call.object)
      const table = tableOf(call)
      switch (kind) {
        case "create": {
          if (table.has(key(call))) return Effect.fail(new Conflict({ message: `duplicate: a ${call.template.name} with that ${call.template.key} exists` }))
          const row = completeRow(call.template, { ...call.values, ...(locking(call) ? { version: 1 } : {}) })
          table.set(key(call), row)
          return Effect.succeed(row)
        }
        case "update":
          return Effect.map(found(call, table), (row) => {
            const changes = Object.fromEntries(Object.entries(call.values).filter(([field, value]) => field !== "version" && value !== undefined))
            const updated = { ...row, ...changes, ...(locking(call) ? { version: Number(row["version"]) + 1 } : {}) }
            table.set(key(call), updated)
            return updated
          })
        case "delete":
          return Effect.map(found(call, table), () => {
            table.delete(key(call))
            return { [call.template.key]: key(call) }
          })
        case "named":
          return Effect.succeed([])
      }
    }
    const service: NamasteCoreService = {
      fetchRecords: (call) =>
        Effect.sync(() => {
          note("fetchRecords", call.object)
          const row = tableOf(call).get(key(call))
          return row === undefined ? [] : [row]
        }),
      readNamed: (call) =>
        Effect.sync(() => {
          note("readNamed", call.object)
          return [...tableOf(call).values()].filter((row) => call.params.every((param) => row[param] === call.values[param]))
        }),
      write: (call, kind, once, options) =>
        Effect.suspend(() => {
          note("write", call.object)
          const earlier = outcomes.get(once.scope)
          if (earlier !== undefined) return replayOf(once, earlier)
          const before = options.before === undefined ? null : tableOf(call).get(key(call)) ?? null
          return Effect.exit(mutate(call, kind)).pipe(
            Effect.flatMap((exit: Exit.Exit<unknown, OperationError>) => recordedOf(exit)),
            Effect.tap((recorded) => Effect.sync(() => outcomes.set(once.scope, { fingerprint: once.fingerprint, outcome: JSON.stringify(recorded) }))),
            Effect.map((recorded) => firstRun(recorded, before))
          )
        }),
      sweepExpired: () => Effect.succeed(0),
      objectExists: (_template, object) => Effect.succeed(objects === undefined || objects.has(object))
    }
    return service
  })

/** The in-memory store as the NamasteCore layer, as each real adapter is one. */
export const MemoryCoreLive = (objects?: ReadonlySet<string>) => Layer.effect(NamasteCore, makeMemoryCore({ calls: [] }, objects))
