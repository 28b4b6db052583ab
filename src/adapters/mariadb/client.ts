import * as Reactivity from "@effect/experimental/Reactivity"
import type { SqlClient } from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import { Data, Duration, Effect, Exit } from "effect"
import mysql from "mysql2"
import type { MariaDbEndpoint } from "../../config/schema.js"
import { reasonOf } from "../../kernel/errors.js"

/** host:port/database; never the credentials. */
export const mariaDbTarget = (endpoint: MariaDbEndpoint): string =>
  `${endpoint.host}:${endpoint.port}/${endpoint.database}`

/** mysql2 reported an error on the read path; the adapter classifies `cause` (errno, code, sqlState). */
export class MysqlFailed extends Data.TaggedError("MysqlFailed")<{ readonly cause: unknown }> {
  override get message() {
    return `mariadb: ${reasonOf(this.cause)}`
  }
}

/**
 * One MariaDB endpoint: the design card's `@effect/sql-mysql2` client, which owns the pool. Every
 * path but the per-message reads uses it as a SqlClient (transactions, the idempotency store,
 * writes, schema apply). Reads run on the driver pool of that same client (`read`), one prepared
 * statement per connection and one Execute per call: through SqlClient a statement costs a span,
 * a compile and a scope more, measured at about twice the node's CPU per read (BENCHMARKS.md).
 * Statement text is always built by the adapter from template identifiers; request values travel
 * only as `?` parameters.
 */
export interface MariaDb {
  readonly sql: SqlClient
  /** A prepared read on the client's own pool, without a span: the hot path's escape hatch. */
  readonly read: (text: string, values: ReadonlyArray<unknown>) => Effect.Effect<unknown, MysqlFailed>
  /**
   * A transaction on one connection of the client's own pool, its statements prepared per
   * connection: the write path's escape hatch. `body`'s statements (`run`) open and commit it
   * themselves (procedures that START TRANSACTION and COMMIT, which saves BEGIN's and COMMIT's round
   * trips), and `body` calls `ended` once a statement has committed or rolled it back. Until then
   * the connection counts as in the transaction: a `body` that fails is rolled back, one that
   * succeeds without ending it is committed. A connection whose ROLLBACK or COMMIT failed, or that
   * was interrupted mid-transaction, is destroyed, never returned to the pool, so the server rolls
   * it back.
   */
  readonly transaction: <A, E>(body: (run: Run, ended: () => void) => Effect.Effect<A, E>) => Effect.Effect<A, E | MysqlFailed>
}

/** Runs one prepared statement on the transaction's connection. */
export type Run = (text: string, values: ReadonlyArray<unknown>) => Effect.Effect<unknown, MysqlFailed>

type Done = (error: unknown, result?: unknown) => void

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
const executeOn = (connection: mysql.PoolConnection, text: string, values: Array<unknown>, done: Done) => {
  const run = (statement: mysql.PrepareStatementInfo) => {
    try {
      statement.execute(values, done)
    } catch (thrown) {
      done(thrown)
    }
  }
  let prepared = preparedByConnection.get(connection)
  if (prepared === undefined) preparedByConnection.set(connection, prepared = new Map())
  const statement = prepared.get(text)
  if (statement !== undefined) return run(statement)
  connection.prepare(text, (error, statement) => {
    if (error) return done(error)
    prepared.set(text, statement)
    run(statement)
  })
}

const executePrepared = (pool: mysql.Pool, text: string, values: Array<unknown>, done: Done) =>
  pool.getConnection((error, connection) => {
    if (error) return done(error)
    executeOn(connection, text, values, (error, result) => {
      connection.release()
      done(error, result)
    })
  })

const resumed = (resume: (effect: Effect.Effect<unknown, MysqlFailed>) => void): Done => (error, result) =>
  resume(error ? Effect.fail(new MysqlFailed({ cause: error })) : Effect.succeed(result))

/** A plain text statement on a connection (COMMIT, ROLLBACK: no values). */
const queryOn = (connection: mysql.PoolConnection, text: string) =>
  Effect.async<unknown, MysqlFailed>((resume) => void connection.query(text, resumed(resume)))

const transactionOn = (pool: mysql.Pool) => <A, E>(
  body: (run: Run, ended: () => void) => Effect.Effect<A, E>
): Effect.Effect<A, E | MysqlFailed> =>
  Effect.acquireUseRelease(
    Effect.async<{ readonly connection: mysql.PoolConnection; open: boolean }, MysqlFailed>((resume) =>
      pool.getConnection((error, connection) =>
        resume(error ? Effect.fail(new MysqlFailed({ cause: error })) : Effect.succeed({ connection, open: false })))
    ),
    (held) => {
      const run: Run = (text, values) =>
        Effect.async<unknown, MysqlFailed>((resume) => void executeOn(held.connection, text, values as Array<unknown>, resumed(resume)))
      const ended = () => void (held.open = false)
      const settle = (exit: Exit.Exit<A, E>): Effect.Effect<A, E | MysqlFailed> =>
        !held.open
          ? exit
          : Exit.isSuccess(exit)
          ? queryOn(held.connection, "COMMIT").pipe(Effect.tap(ended), Effect.as(exit.value))
          : queryOn(held.connection, "ROLLBACK").pipe(Effect.tap(ended), Effect.ignore, Effect.zipRight(exit))
      // From the first statement on, the connection may be in the transaction.
      held.open = true
      return Effect.exit(body(run, ended)).pipe(Effect.flatMap(settle))
    },
    (held) =>
      Effect.sync(() => {
        // Still open (a failed COMMIT or ROLLBACK, an interruption): never back into the pool.
        if (held.open) held.connection.destroy()
        else held.connection.release()
      })
  )

// mysql2's typings declare Pool as an interface; the module exports the class at run time.
const PoolClass = (mysql as unknown as { readonly Pool: abstract new(...args: ReadonlyArray<never>) => mysql.Pool }).Pool

/**
 * The mysql2 pool a MysqlClient owns. @effect/sql-mysql2 keeps it private; a reserved connection
 * is a `PoolConnection` that knows its pool. This reaches into both libraries (@effect/sql-mysql2
 * 0.53's connection wrapper `conn`, mysql2's `_pool`), so it is checked: if either changes, the
 * node fails at boot with this message rather than opening a second pool (test/integration/
 * mariadb.test.ts checks that reads and writes share the pool's connections).
 */
export const driverPoolOf = (sql: SqlClient) =>
  Effect.scoped(sql.reserve).pipe(
    Effect.flatMap((reserved) => {
      const pool = (reserved as unknown as { readonly conn?: { readonly _pool?: unknown } }).conn?._pool
      return pool instanceof PoolClass
        ? Effect.succeed(pool)
        : Effect.dieMessage("mariadb: cannot reach the mysql2 pool of @effect/sql-mysql2's client (a library changed its internals)")
    })
  )

/**
 * Opens an endpoint's client (its pool checked with `SELECT 1`, so a wrong host, user or database
 * fails here, not on the first request); the pool ends when the scope closes. Idle connections are
 * kept (`maxIdle` = `maxConnections`) so a busy node never pays for reconnecting and re-preparing.
 */
export const openMariaDb = (endpoint: MariaDbEndpoint, options: { readonly maxConnections: number; readonly connectTimeoutMs: number }) =>
  Effect.gen(function*() {
    const sql = yield* MysqlClient.make({
      host: endpoint.host,
      port: endpoint.port,
      database: endpoint.database,
      username: endpoint.username,
      password: endpoint.password,
      maxConnections: options.maxConnections,
      poolConfig: { maxIdle: options.maxConnections, connectTimeout: options.connectTimeoutMs }
    }).pipe(
      Effect.provide(Reactivity.layer),
      Effect.timeoutFail({
        duration: Duration.millis(options.connectTimeoutMs),
        onTimeout: () => new SqlError({ cause: new Error(`no connection within ${options.connectTimeoutMs} ms`), message: "timeout" })
      })
    )
    const pool = yield* driverPoolOf(sql)
    const service: MariaDb = {
      sql,
      read: (text, values) => Effect.async((resume) => void executePrepared(pool, text, values as Array<unknown>, resumed(resume))),
      transaction: transactionOn(pool)
    }
    return service
  })

/** The mysql2 error inside a SqlError (or a read's failure), for classifying. */
export const causeOf = (error: SqlError | MysqlFailed): unknown => error.cause

