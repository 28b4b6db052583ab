import { Effect } from "effect"
import type { MariaDbEndpoint } from "../../config/schema.js"
import type { CoreCall, NamasteCoreService, Row, StoreObjectKinds } from "../port.js"
import { Conflict, NotFound, Unavailable, ValidationFailed, type OperationError } from "../../protocol/errors.js"
import type { Template } from "../../templates/schema.js"
import { type MariaDbPool, type MysqlFailed, openMariaDbPool } from "./client.js"

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
}

const TRANSIENT_ERRNOS = new Set([1205, 1213, 1040, 1053, 2002, 2003, 2006, 2013])
const TRANSIENT_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "PROTOCOL_CONNECTION_LOST", "EPIPE"])

/**
 * MySQL errors by class: deadlock, lock wait, lost or refused connection -> transient (retried);
 * duplicate key -> conflict; a DBA's `SIGNAL SQLSTATE '45000'` with a message starting
 * `conflict:`, `not_found:` or anything else -> conflict, not_found or validation. Any other error
 * (a missing object, a syntax error in a procedure) is a deployment defect, not the caller's: it
 * becomes a defect on purpose, so the message is dead-lettered and the cause logged.
 */
export const classifyMysqlError = (error: MysqlFailed): Effect.Effect<never, OperationError> => {
  const cause = (typeof error.cause === "object" && error.cause !== null ? error.cause : {}) as MysqlError
  const message = cause.sqlMessage ?? cause.message ?? String(error.cause)
  if ((cause.errno !== undefined && TRANSIENT_ERRNOS.has(cause.errno)) || (cause.code !== undefined && TRANSIENT_CODES.has(cause.code))) {
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

export interface MariaDbCoreOptions {
  readonly master: MariaDbEndpoint
  readonly secondary: MariaDbEndpoint | undefined
  readonly maxConnections: number
  readonly connectTimeoutMs: number
}

/** The MariaDB NamasteCore: procedures for writes and named operations, views for fetches. */
export const makeMariaDbCore = (options: MariaDbCoreOptions) =>
  Effect.gen(function*() {
    const pool = (endpoint: MariaDbEndpoint) =>
      openMariaDbPool(endpoint, { maxConnections: options.maxConnections, connectTimeoutMs: options.connectTimeoutMs })
    const writer = yield* pool(options.master)
    // Reads go to the secondary when there is one.
    const reader = options.secondary === undefined ? writer : yield* pool(options.secondary)

    /** Runs one statement; its first result set, each row in the template's types. */
    const rows = (client: MariaDbPool, template: Template, text: string, values: ReadonlyArray<unknown>) =>
      client.execute(text, values).pipe(
        Effect.catchAll(classifyMysqlError),
        Effect.map((result) => firstResultSet(Array.isArray(result) ? result : []).map((row) => normalizeRow(template, row)))
      )
    // Statement text depends only on the object and the number of values: built once, not per call.
    const callTexts = new Map<string, string>()
    const callText = (object: string, arity: number) => {
      const key = `${object}/${arity}`
      let text = callTexts.get(key)
      if (text === undefined) callTexts.set(key, text = `CALL ${quoted(object)}(${Array.from({ length: arity }, () => "?").join(", ")})`)
      return text
    }
    const callProcedure = (client: MariaDbPool, call: CoreCall, names: ReadonlyArray<string>) =>
      rows(client, call.template, callText(call.object, names.length), names.map((name) => call.values[name] ?? null))
    const withVersion = (call: CoreCall) =>
      call.template.capabilities.optimistic_locking ? [...call.params, "version"] : call.params
    const single = (call: CoreCall) => (written: ReadonlyArray<Row>): Row =>
      written[0] ?? { [call.template.key]: call.values[call.template.key] ?? null }

    const service: NamasteCoreService = {
      createRecord: (call) => callProcedure(writer, call, call.params).pipe(Effect.map(single(call))),
      fetchRecords: (call) =>
        rows(reader, call.template, `SELECT * FROM ${quoted(call.object)} WHERE ${quoted(call.template.key)} = ?`, [call.values[call.template.key]]),
      updateRecord: (call) => callProcedure(writer, call, withVersion(call)).pipe(Effect.map(single(call))),
      deleteRecord: (call) =>
        callProcedure(writer, call, call.template.capabilities.optimistic_locking ? [call.template.key, "version"] : [call.template.key]).pipe(
          Effect.map(single(call))
        ),
      callOperation: (call) => callProcedure(call.kind === "read" ? reader : writer, call, call.params),
      objectExists: (template, object, kind) =>
        rows(
          writer,
          template,
          kind === "view"
            ? "SELECT 1 AS found FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?"
            : "SELECT 1 AS found FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = ? AND ROUTINE_TYPE = 'PROCEDURE'",
          [object]
        ).pipe(Effect.map((found) => found.length > 0))
    }
    return service
  })
