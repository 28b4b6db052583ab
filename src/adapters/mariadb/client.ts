import { Data, Effect, Redacted } from "effect"
import mysql from "mysql2"
import type { MariaDbEndpoint } from "../../config/schema.js"
import { reasonOf } from "../../kernel/errors.js"

/** host:port/database; never the credentials. */
export const mariaDbTarget = (endpoint: MariaDbEndpoint): string =>
  `${endpoint.host}:${endpoint.port}/${endpoint.database}`

/** mysql2 reported an error; the adapter classifies `cause` (errno, code, sqlState) into the catalog. */
export class MysqlFailed extends Data.TaggedError("MysqlFailed")<{ readonly cause: unknown }> {
  override get message() {
    return `mariadb: ${reasonOf(this.cause)}`
  }
}

/**
 * A MariaDB connection pool: mysql2's own pool, driven through its callback API. This replaced
 * `@effect/sql-mysql2` on the data path: its per-statement span, scope and connection lookup
 * doubled the node's CPU per query (measured: 65-75 µs per `CALL` for mysql2 alone, 134-151 µs
 * through `@effect/sql`; see BENCHMARKS.md). Statement text is always built by the adapter from
 * template identifiers; request values travel only as `?` parameters.
 */
export interface MariaDbPool {
  /** A prepared statement: prepared once per connection, values sent in binary. */
  readonly execute: (text: string, values: ReadonlyArray<unknown>) => Effect.Effect<unknown, MysqlFailed>
  /** A plain text statement, for multi-statement scripts (the DBA's schema files). */
  readonly script: (text: string) => Effect.Effect<unknown, MysqlFailed>
}

const endPool = (pool: mysql.Pool) => Effect.async<void>((resume) => void pool.end(() => resume(Effect.void)))

type Done = (error: unknown, result?: unknown) => void

const resumeWith = (resume: (effect: Effect.Effect<unknown, MysqlFailed>) => void): Done => (error, result) =>
  resume(error ? Effect.fail(new MysqlFailed({ cause: error })) : Effect.succeed(result))

/**
 * Each pooled connection's prepared statements, by text. A connection the pool drops takes its
 * statements with it (a WeakMap entry). The text comes only from templates (a bounded set), well
 * under mysql2's own per-connection statement cache, so a statement held here is never closed by it.
 */
const preparedByConnection = new WeakMap<mysql.PoolConnection, Map<string, mysql.PrepareStatementInfo>>()

/**
 * Runs a prepared statement on a pooled connection: prepared once per connection, then one
 * `Execute` command per call. `pool.execute` does the same with a lookup, a `Prepare` command and
 * argument checks on every call; this was measured at 7-25 µs less CPU per call (BENCHMARKS.md).
 */
const executePrepared = (pool: mysql.Pool, text: string, values: Array<unknown>, done: Done) =>
  pool.getConnection((error, connection) => {
    if (error) return done(error)
    const finish: Done = (error, result) => {
      connection.release()
      done(error, result)
    }
    const run = (statement: mysql.PrepareStatementInfo) => {
      try {
        statement.execute(values, finish)
      } catch (thrown) {
        finish(thrown)
      }
    }
    let prepared = preparedByConnection.get(connection)
    if (prepared === undefined) preparedByConnection.set(connection, prepared = new Map())
    const statement = prepared.get(text)
    if (statement !== undefined) return run(statement)
    connection.prepare(text, (error, statement) => {
      if (error) return finish(error)
      prepared.set(text, statement)
      run(statement)
    })
  })

/**
 * Opens a pool and checks it with `SELECT 1` (so a wrong host, user or database fails here, not on
 * the first request); ended when the scope closes. Idle connections are kept (`maxIdle` =
 * `maxConnections`) so a busy node never pays for reconnecting and re-preparing.
 */
export const openMariaDbPool = (
  endpoint: MariaDbEndpoint,
  options: { readonly maxConnections: number; readonly connectTimeoutMs: number; readonly multipleStatements?: boolean }
) =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      const pool = mysql.createPool({
        host: endpoint.host,
        port: endpoint.port,
        database: endpoint.database,
        user: endpoint.username,
        password: Redacted.value(endpoint.password),
        connectionLimit: options.maxConnections,
        maxIdle: options.maxConnections,
        connectTimeout: options.connectTimeoutMs,
        multipleStatements: options.multipleStatements ?? false,
        supportBigNumbers: true
      })
      const service: MariaDbPool = {
        execute: (text, values) =>
          Effect.async((resume) => void executePrepared(pool, text, values as Array<unknown>, resumeWith(resume))),
        script: (text) => Effect.async((resume) => void pool.query(text, resumeWith(resume)))
      }
      return service.script("SELECT 1").pipe(
        Effect.timeoutFail({
          duration: options.connectTimeoutMs,
          onTimeout: () => new MysqlFailed({ cause: new Error(`no connection within ${options.connectTimeoutMs} ms`) })
        }),
        Effect.as({ pool, service }),
        Effect.tapError(() => endPool(pool))
      )
    }),
    ({ pool }) => endPool(pool)
  ).pipe(Effect.map(({ service }) => service))
