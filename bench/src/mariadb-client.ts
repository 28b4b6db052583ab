// `node bench/dist/mariadb-client.js`: MariaDB reads and writes measured apart, in this one process,
// on one @effect/sql-mysql2 client. Reads: the same `CALL bnr_by_id(?)` through its SqlClient (a
// statement: span, compile, scope) and through the escape hatch the adapter reads with (mysql2 on
// that client's own pool, one prepared statement per connection). Writes: the adapter's exactly-once
// write (a transaction on a driver connection of that pool), the same statements through
// SqlClient.withTransaction, and the bare procedure call. CPU of this process per call
// (process.cpuUsage), rounds alternated so a drift of the machine falls on all. Its own database,
// removed at the end.
import { Effect, Redacted } from "effect"
import { performance } from "node:perf_hooks"
import { addDatabase, uniqueName } from "../../scripts/local-services.mjs"
import { openMariaDb } from "../../dist/adapters/mariadb/client.js"
import { makeMariaDbCore } from "../../dist/adapters/mariadb/core.js"
import { applyMariaDbSchema } from "../../dist/schema/mariadb.js"
import { loadTemplates } from "../../dist/templates/load.js"
import { NodeContext } from "@effect/platform-node"
import path from "node:path"
import { fileURLToPath } from "node:url"

const CALLS = 20_000
const root = fileURLToPath(new URL("../..", import.meta.url))
const IN_FLIGHT = 64
const ROUNDS = 3

const argv = process.argv.slice(2)
const option = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const calls = Number(option("calls") ?? CALLS)

const measure = async (send: (id: number) => Promise<unknown>) => {
  let next = 0
  const cpu = process.cpuUsage()
  const start = performance.now()
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next < calls) await send(1 + (next++ % 1_000))
  }))
  const used = process.cpuUsage(cpu)
  return { cpuUsPerCall: (used.user + used.system) / calls, perSecond: calls / ((performance.now() - start) / 1000) }
}

const database = uniqueName("bench_sql")
const drop = await addDatabase(database)
try {
  const program = Effect.scoped(Effect.gen(function*() {
    const db = yield* openMariaDb(
      { host: "127.0.0.1", port: 3306, database, username: "root", password: Redacted.make("") },
      { maxConnections: 16, connectTimeoutMs: 10_000 }
    )
    yield* db.sql.unsafe(
      "CREATE TABLE bnr_items (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, payload VARCHAR(1000) NOT NULL) ENGINE = InnoDB; " +
        "CREATE PROCEDURE bnr_by_id(IN p_id BIGINT) BEGIN SELECT id, payload FROM bnr_items WHERE id = p_id; END"
    ).unprepared
    yield* db.sql.unsafe(`INSERT INTO bnr_items (payload) VALUES ${Array.from({ length: 1_000 }, (_, i) => `('seed payload ${i}')`).join(", ")}`).unprepared
    const text = "CALL bnr_by_id(?)"
    const viaSqlClient = (id: number) => Effect.runPromise(db.sql.unsafe(text, [id]))
    const viaDriver = (id: number) => Effect.runPromise(db.read(text, [id]))
    // Warm both paths (JIT, prepared statements on every connection).
    yield* Effect.promise(() => measure(viaSqlClient))
    yield* Effect.promise(() => measure(viaDriver))
    const results: Array<{ path: string; cpuUsPerCall: number; perSecond: number }> = []
    for (let round = 0; round < ROUNDS; round++) {
      for (const [path, send] of [["SqlClient (sql.unsafe)", viaSqlClient], ["driver on the same pool", viaDriver]] as const) {
        results.push({ path, ...(yield* Effect.promise(() => measure(send))) })
      }
    }
    // Writes: the adapter's exactly-once write (SqlClient: a transaction of claim, procedure and
    // record) beside the same procedure called alone on the driver (no record: what a write cost before).
    const endpoint = { host: "127.0.0.1", port: 3306, database, username: "root", password: Redacted.make("") }
    yield* applyMariaDbSchema(endpoint, [path.join(root, "schema", "beds", "mariadb"), path.join(root, "bench", "schema", "mariadb")])
    const core = yield* makeMariaDbCore({ master: endpoint, secondary: undefined, maxConnections: 16, connectTimeoutMs: 10_000 })
    const template = (yield* loadTemplates(path.join(root, "bench", "templates"))).map((entry) => entry.template).find((t) => t.name === "bench_rel")!
    let scope = 0
    const write = () =>
      Effect.runPromise(core.write({ template, object: "bnr_create", values: { payload: "x".repeat(100) }, params: ["payload"] }, "create", {
        scope: `bench_rel/w${scope++}`,
        fingerprint: "f",
        retentionS: 3600
      }, { before: undefined }))
    const callAlone = () => Effect.runPromise(db.read("CALL bnr_create(?)", ["x".repeat(100)]))
    // The same exactly-once write through SqlClient's withTransaction, as the store did it before
    // beds_idem_open (BEGIN and COMMIT statements of their own).
    const writeViaSqlClient = () =>
      Effect.runPromise(db.sql.withTransaction(Effect.gen(function*() {
        const s = `bench_rel/s${scope++}`
        yield* db.sql.unsafe("CALL beds_idem_begin(?, ?, ?)", [s, "f", 3600])
        const rows = yield* db.sql.unsafe("CALL bnr_create(?)", ["x".repeat(100)])
        yield* db.sql.unsafe("CALL beds_idem_finish(?, ?)", [s, JSON.stringify({ ok: true, data: rows })])
      })))
    const writeCalls = Math.max(2_000, Math.floor(calls / 4))
    const measureWrites = async (send: () => Promise<unknown>) => {
      let next = 0
      const cpu = process.cpuUsage()
      const start = performance.now()
      await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
        while (next++ < writeCalls) await send()
      }))
      const used = process.cpuUsage(cpu)
      return { cpuUsPerCall: (used.user + used.system) / writeCalls, perSecond: writeCalls / ((performance.now() - start) / 1000) }
    }
    yield* Effect.promise(() => measureWrites(write))
    yield* Effect.promise(() => measureWrites(writeViaSqlClient))
    yield* Effect.promise(() => measureWrites(callAlone))
    for (let round = 0; round < ROUNDS; round++) {
      for (
        const [path, send] of [
          ["write, exactly once: the adapter's (beds_idem_open, CALL, beds_idem_close on a driver connection of the pool)", write],
          ["write, exactly once through SqlClient.withTransaction (BEGIN, beds_idem_begin, CALL, beds_idem_finish, COMMIT)", writeViaSqlClient],
          ["write: the procedure alone, no record (driver)", callAlone]
        ] as const
      ) {
        results.push({ path, ...(yield* Effect.promise(() => measureWrites(send))) })
      }
    }
    return results
  }).pipe(Effect.provide(NodeContext.layer)))
  const results = await Effect.runPromise(program)
  console.log(`${calls} CALLs per round, ${IN_FLIGHT} in flight, ${ROUNDS} rounds alternated; Node ${process.version}\n`)
  console.log("| path | CPU µs per CALL (rounds) | CALLs/s (rounds) |")
  console.log("| --- | --- | --- |")
  for (const path of [...new Set(results.map((r) => r.path))]) {
    const mine = results.filter((r) => r.path === path)
    console.log(`| ${path} | ${mine.map((r) => r.cpuUsPerCall.toFixed(1)).join(", ")} | ${mine.map((r) => Math.round(r.perSecond)).join(", ")} |`)
  }
} finally {
  await drop()
}
