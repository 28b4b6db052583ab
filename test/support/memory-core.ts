import { Effect, Layer, Ref } from "effect"
import { completeRow, NamasteCore, type CoreCall, type NamasteCoreService, type Row } from "../../src/adapters/port.js"
import { Conflict, NotFound, type OperationError } from "../../src/protocol/errors.js"

/** What the in-memory store saw: every call, by method, for tests that assert what reached the store. */
export interface MemoryCalls {
  readonly calls: Array<{ readonly method: keyof NamasteCoreService; readonly object: string }>
}

/**
 * The NamasteCore port in memory: records keyed by the template's key, with the same semantics the
 * real adapters keep (the port contract suite checks it against them): create refuses a duplicate
 * key, fetch selects by key, update and delete honour `version` when the template locks, a named
 * read returns the records whose params equal the given values.
 */
export const makeMemoryCore = (
  seen: MemoryCalls = { calls: [] },
  /** The objects that exist; unset: every object does. */
  objects?: ReadonlySet<string>
): Effect.Effect<NamasteCoreService> =>
  Effect.map(Ref.make(new Map<string, Map<unknown, Row>>()), (ref) => {
    const tableOf = (call: CoreCall) =>
      Ref.modify(ref, (tables) => {
        const existing = tables.get(call.template.name)
        if (existing !== undefined) return [existing, tables]
        const created = new Map<unknown, Row>()
        return [created, new Map(tables).set(call.template.name, created)]
      })
    const record = <A>(method: keyof NamasteCoreService, object: string, effect: Effect.Effect<A, OperationError>) =>
      Effect.zipRight(Effect.sync(() => seen.calls.push({ method, object })), effect)
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
    return {
      createRecord: (call) =>
        record("createRecord", call.object, Effect.flatMap(tableOf(call), (table) => {
          if (table.has(key(call))) return Effect.fail(new Conflict({ message: `duplicate: a ${call.template.name} with that ${call.template.key} exists` }))
          const row = completeRow(call.template, { ...call.values, ...(locking(call) ? { version: 1 } : {}) })
          table.set(key(call), row)
          return Effect.succeed(row)
        })),
      fetchRecords: (call) =>
        record("fetchRecords", call.object, Effect.map(tableOf(call), (table) => {
          const row = table.get(key(call))
          return row === undefined ? [] : [row]
        })),
      updateRecord: (call) =>
        record("updateRecord", call.object, Effect.flatMap(tableOf(call), (table) =>
          Effect.map(found(call, table), (row) => {
            const changes = Object.fromEntries(Object.entries(call.values).filter(([field, value]) => field !== "version" && value !== undefined))
            const updated = { ...row, ...changes, ...(locking(call) ? { version: Number(row["version"]) + 1 } : {}) }
            table.set(key(call), updated)
            return updated
          }))),
      deleteRecord: (call) =>
        record("deleteRecord", call.object, Effect.flatMap(tableOf(call), (table) =>
          Effect.map(found(call, table), () => {
            table.delete(key(call))
            return { [call.template.key]: key(call) }
          }))),
      callOperation: (call) =>
        record("callOperation", call.object, Effect.map(tableOf(call), (table) =>
          [...table.values()].filter((row) => call.params.every((param) => row[param] === call.values[param])))),
      objectExists: (_template, object) => Effect.succeed(objects === undefined || objects.has(object))
    }
  })

/** The in-memory store as the NamasteCore layer, as each real adapter is one. */
export const MemoryCoreLive = (objects?: ReadonlySet<string>) => Layer.effect(NamasteCore, makeMemoryCore({ calls: [] }, objects))
