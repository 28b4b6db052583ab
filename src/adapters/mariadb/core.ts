import { Data, Effect } from "effect"
import type { MariaDbEndpoint } from "../../config/schema.js"
import { Conflict, type InProgress, type KeyReused, NotFound, Unavailable, ValidationFailed, type OperationError } from "../../protocol/errors.js"
import type { Template } from "../../templates/schema.js"
import { encodeRecorded, firstRun, recordedOf, replayOf } from "../once.js"
import type { CoreCall, NamasteCoreService, Once, Recorded, Row, StoreObjectKinds, WriteKind, Written } from "../port.js"
import { openMariaDb, type MariaDb } from "./client.js"
import { makeMariaDbTickets } from "./tickets.js"

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/

/**
 * Identifiers reach SQL text only from templates (decoded with the same rule); checked again here
 * because this is the line where text is built, and quoted so a name can never be a keyword.
 */
const quoted = (identifier: string): string => {
  if (!IDENTIFIER.test(identifier)) throw new Error(`not an identifier: ${JSON.stringify(identifier)}`)
  return `\`${identifier}\``
}

interface MysqlError {
  readonly errno?: number
  readonly code?: string
  readonly sqlState?: string
  readonly sqlMessage?: string
  readonly message?: string
  readonly fatal?: boolean
}

// Lock wait, deadlock, too many connections, shutdown in progress, connection refused or lost,
// network read/write errors, a killed or idle-closed connection.
const TRANSIENT_ERRNOS = new Set([1205, 1213, 1040, 1053, 1158, 1159, 1160, 1161, 1927, 2002, 2003, 2006, 2013, 4031])
const TRANSIENT_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "PROTOCOL_CONNECTION_LOST", "PROTOCOL_SEQUENCE_TIMEOUT"])
// mysql2's own errors about a connection or pool that is gone carry no errno (e.g. "Can't add new
// command when connection is in closed state" after the server died).
const CLOSED_CONNECTION = /closed state|pool is closed|connection lost|connection is closed|no connection within/i

/**
 * MySQL errors by class: deadlock, lock wait, a lost, closed or refused connection -> transient
 * (retried; the idempotency record makes a retried write safe); duplicate key -> conflict; a DBA's
 * `SIGNAL SQLSTATE '45000'` with a message starting `conflict:`, `not_found:` or anything else ->
 * conflict, not_found or validation. Any other error (a missing object, a syntax error in a
 * procedure) is a deployment defect, not the caller's: it becomes a defect on purpose, so the
 * message is dead-lettered and the cause logged.
 */
export const classifyMysqlError = (error: { readonly cause?: unknown }): Effect.Effect<never, OperationError> => {
  const cause = (typeof error.cause === "object" && error.cause !== null ? error.cause : {}) as MysqlError
  const message = cause.sqlMessage ?? cause.message ?? String(error.cause)
  if (
    (cause.errno !== undefined && TRANSIENT_ERRNOS.has(cause.errno)) || (cause.code !== undefined && TRANSIENT_CODES.has(cause.code)) ||
    cause.fatal === true || (cause.sqlState === undefined && CLOSED_CONNECTION.test(message))
  ) {
    return Effect.fail(new Unavailable({ message: `mariadb: ${message}` }))
  }
  if (cause.errno === 1062) return Effect.fail(new Conflict({ message: `duplicate: ${message}` }))
  if (cause.sqlState === "45000") {
    if (message.startsWith("conflict:")) return Effect.fail(new Conflict({ message: message.slice(9).trim() }))
    if (message.startsWith("not_found:")) return Effect.fail(new NotFound({ message: message.slice(10).trim() }))
    return Effect.fail(new ValidationFailed({ message: message.replace(/^validation:/, "").trim() }))
  }
  return Effect.die(error)
}

/** mysql2 returns BOOLEAN as 0/1, DECIMAL as strings, DATETIME as Date: give back the template's types. */
const normalizeRow = (template: Template, row: Record<string, unknown>): Row => {
  const out: Record<string, unknown> = {}
  for (const [column, value] of Object.entries(row)) {
    const spec = template.fields[column]
    if (value === null || value === undefined) {
      out[column] = null
    } else if (spec?.type === "boolean") {
      out[column] = Boolean(Number(value))
    } else if ((spec?.type === "number" || spec?.type === "integer" || column === "version") && typeof value === "string") {
      out[column] = Number(value)
    } else if (value instanceof Date) {
      out[column] = value.toISOString()
    } else {
      out[column] = value
    }
  }
  return out
}

/** A CALL gives [resultSet, ..., okPacket]; a SELECT gives the rows. */
const firstResultSet = (result: ReadonlyArray<unknown>): ReadonlyArray<Record<string, unknown>> =>
  (Array.isArray(result[0]) ? result[0] : result.filter((r) => typeof r === "object" && r !== null && !("affectedRows" in r))) as ReadonlyArray<
    Record<string, unknown>
  >

/** Fetches read a view; writes and named operations call procedures. */
export const mariaDbObjectKinds: StoreObjectKinds = { fetch: "view", write: "procedure", named: "procedure" }

/** BEDS's own objects on a MariaDB store (schema/beds/mariadb): the idempotency store. */
export const mariaDbOwnObjects = [
  { object: "beds_idem_open", kind: "procedure" },
  { object: "beds_idem_close", kind: "procedure" },
  { object: "beds_idem_sweep", kind: "procedure" }
] as const

/** The ticket store's objects (schema/beds/mariadb/beds_tickets.sql), needed where the `tickets` template is served. */
export const mariaDbTicketObjects = [
  { object: "beds_tickets_v", kind: "view" },
  { object: "beds_ticket_open", kind: "procedure" },
  { object: "beds_ticket_claim", kind: "procedure" },
  { object: "beds_ticket_beat", kind: "procedure" },
  { object: "beds_ticket_finish", kind: "procedure" },
  { object: "beds_ticket_sweep", kind: "procedure" }
] as const

export interface MariaDbCoreOptions {
  readonly master: MariaDbEndpoint
  readonly secondary: MariaDbEndpoint | undefined
  readonly maxConnections: number
  readonly connectTimeoutMs: number
}

/** A statement runner: the read path's driver pool, or the SqlClient (in a write's transaction). */
type Run = (text: string, values: ReadonlyArray<unknown>) => Effect.Effect<unknown, { readonly cause?: unknown }>

/** The existing record a claim found (beds_idem_open answers nothing when the claim is ours). */
class Claimed extends Data.TaggedClass("Claimed")<{ readonly found: { readonly fingerprint: string; readonly outcome: string | null } }> {}

/**
 * The MariaDB NamasteCore: procedures for writes and named operations, views for fetches. Writes
 * are exactly once: in one transaction on the master, which `beds_idem_open` opens as it claims the
 * scope (a claim another open transaction holds makes this one wait for its commit, and then see
 * its record), the procedure runs, and `beds_idem_close` records the outcome and commits: three
 * statements, the write and its record committed together. A caller error (conflict, not_found,
 * validation) rolls the procedure's work back and is recorded on its own.
 *
 * Reads and write transactions are on the per-message path: they run on the MysqlClient's own pool
 * through mysql2 (client.ts `read`, `transaction`), since through SqlClient a write's statements
 * cost the node several times the CPU (BENCHMARKS.md). The sweep and the IPL's check use SqlClient.
 */
export const makeMariaDbCore = (options: MariaDbCoreOptions) =>
  Effect.gen(function*() {
    const open = (endpoint: MariaDbEndpoint) =>
      openMariaDb(endpoint, { maxConnections: options.maxConnections, connectTimeoutMs: options.connectTimeoutMs })
    const writer: MariaDb = yield* open(options.master)
    // Reads go to the secondary when there is one.
    const reader: MariaDb = options.secondary === undefined ? writer : yield* open(options.secondary)
    // Off the per-message path (the sweep, the IPL's object check): the design card's SqlClient.
    const viaSqlClient: Run = (text, values) => writer.sql.unsafe(text, values)

    /** Runs one statement; its first result set, each row in the template's types. */
    const rows = (run: Run, template: Template | undefined, text: string, values: ReadonlyArray<unknown>) =>
      run(text, values).pipe(
        Effect.catchAll(classifyMysqlError),
        Effect.map((result) =>
          firstResultSet(Array.isArray(result) ? result : []).map((row) => template === undefined ? row : normalizeRow(template, row)))
      )
    // Statement text depends only on the object and the number of values: built once, not per call.
    const callTexts = new Map<string, string>()
    const callText = (object: string, arity: number) => {
      const key = `${object}/${arity}`
      let text = callTexts.get(key)
      if (text === undefined) callTexts.set(key, text = `CALL ${quoted(object)}(${Array.from({ length: arity }, () => "?").join(", ")})`)
      return text
    }
    const callProcedure = (run: Run, call: CoreCall, names: ReadonlyArray<string>) =>
      rows(run, call.template, callText(call.object, names.length), names.map((name) => call.values[name] ?? null))
    const selectByKey = (run: Run, template: Template, view: string, key: unknown) =>
      rows(run, template, `SELECT * FROM ${quoted(view)} WHERE ${quoted(template.key)} = ?`, [key])
    const withVersion = (call: CoreCall) =>
      call.template.capabilities.optimistic_locking ? [...call.params, "version"] : call.params
    const single = (call: CoreCall) => (written: ReadonlyArray<Row>): Row =>
      written[0] ?? { [call.template.key]: call.values[call.template.key] ?? null }

    /** The write itself, in the transaction (`run`). */
    const mutate = (run: Run, call: CoreCall, kind: WriteKind): Effect.Effect<unknown, OperationError> => {
      switch (kind) {
        case "create":
          return Effect.map(callProcedure(run, call, call.params), single(call))
        case "update":
          return Effect.map(callProcedure(run, call, withVersion(call)), single(call))
        case "delete":
          return Effect.map(
            callProcedure(run, call, call.template.capabilities.optimistic_locking ? [call.template.key, "version"] : [call.template.key]),
            single(call)
          )
        case "named":
          return callProcedure(run, call, call.params)
      }
    }
    /** Opens the transaction and claims the scope; a scope already claimed has been rolled back (`ended`). */
    const claim = (run: Run, ended: () => void, once: Once) =>
      Effect.flatMap(rows(run, undefined, "CALL beds_idem_open(?, ?, ?)", [once.scope, once.fingerprint, once.retentionS]), (found) => {
        if (found[0] === undefined) return Effect.void
        ended()
        return Effect.fail(new Claimed({ found: { fingerprint: String(found[0]["fingerprint"]), outcome: (found[0]["outcome"] ?? null) as string | null } }))
      })
    /** Records the outcome and commits (`ended`). */
    const finish = (run: Run, ended: () => void, once: Once, recorded: Recorded) =>
      Effect.tap(rows(run, undefined, "CALL beds_idem_close(?, ?)", [once.scope, encodeRecorded(recorded)]), ended)
    /** Claims the scope and records an outcome in one transaction (a caller error's, after its rollback). */
    const record = (once: Once, recorded: Recorded) =>
      writer.transaction((run, ended) => Effect.zipRight(claim(run, ended, once), finish(run, ended, once, recorded))).pipe(
        Effect.as(firstRun(recorded, null)),
        Effect.catchTag("MysqlFailed", classifyMysqlError)
      )

    const write = (
      call: CoreCall,
      kind: WriteKind,
      once: Once,
      options: { readonly before: string | undefined }
    ): Effect.Effect<Written, Unavailable | KeyReused | InProgress> =>
      writer.transaction((run, ended) =>
        Effect.gen(function*() {
          yield* claim(run, ended, once)
          const key = call.values[call.template.key]
          const before = options.before === undefined || key === undefined
            ? null
            : (yield* selectByKey(run, call.template, options.before, key))[0] ?? null
          const recorded = yield* Effect.exit(mutate(run, call, kind)).pipe(Effect.flatMap(recordedOf))
          // A caller error: the procedure's work is rolled back with the transaction, then recorded alone.
          if (!recorded.ok) return yield* Effect.fail(new RolledBack({ recorded }))
          yield* finish(run, ended, once, recorded)
          return firstRun(recorded, before)
        })
      ).pipe(
        // A failed claim or close: a commit lost with its connection leaves the write's fate unknown, which is unavailable.
        Effect.catchTag("MysqlFailed", classifyMysqlError),
        Effect.catchTags({
          Claimed: ({ found }) => replayOf(once, found),
          RolledBack: ({ recorded }) => Effect.catchTag(record(once, recorded), "Claimed", ({ found }) => replayOf(once, found))
        }),
        Effect.catchAll(onlyTransient)
      )

    const service: NamasteCoreService = {
      fetchRecords: (call) => selectByKey(reader.read, call.template, call.object, call.values[call.template.key]),
      readNamed: (call) => callProcedure(reader.read, call, call.params),
      write,
      tickets: makeMariaDbTickets((text, values) => rows(viaSqlClient, undefined, text, values)),
      sweepExpired: (limit) =>
        rows(viaSqlClient, undefined, "CALL beds_idem_sweep(?)", [limit]).pipe(
          Effect.map((removed) => Number(removed[0]?.["removed"] ?? 0)),
          Effect.catchAll((error) => error._tag === "Unavailable" ? Effect.fail(error) : Effect.die(error))
        ),
      objectExists: (template, object, kind) =>
        rows(
          viaSqlClient,
          template,
          kind === "view"
            ? "SELECT 1 AS found FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
            : "SELECT 1 AS found FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = ? AND ROUTINE_TYPE = 'PROCEDURE'",
          [object]
        ).pipe(Effect.map((found) => found.length > 0))
    }
    return service
  })

/** What a write may fail with: it may not have run, or must not run; anything else is a defect here. */
const onlyTransient = (error: OperationError): Effect.Effect<never, Unavailable | KeyReused | InProgress> =>
  error._tag === "Unavailable" || error._tag === "KeyReused" || error._tag === "InProgress"
    ? Effect.fail(error)
    : Effect.die(new Error(`mariadb: a write's bookkeeping failed with ${error._tag}: ${error.message}`))

/** A write whose caller error rolled its transaction back; the error is then recorded alone. */
class RolledBack extends Data.TaggedError("RolledBack")<{ readonly recorded: Recorded }> {}
