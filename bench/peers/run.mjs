// BEDS against the peers its users would pick instead, on the same work, in one run: a MariaDB
// read (the bench procedure bnr_by_id, by primary key) requested over RabbitMQ and answered over
// direct reply-to (Moleculer: its own reply queue), at the same concurrencies, for the same time.
//
//   node run.mjs [--duration=10] [--concurrency=1,16,64,256] [--only=raw,beds,moleculer,nest]
//                [--rounds=1] [--warmup=3] [--point-warmup=1] [--prefetch=256] [--rows=1000] [--out=DIR]
//
// BEDS_DIR names a built BEDS checkout (dist/ present); run.sh finds or builds one. Each peer has
// one server process and one client process; all are started here, measured in turn (for each
// concurrency, each peer, the order rotated from one concurrency and round to the next), and
// stopped here, by PID. --rounds=3 measures every point three times; the table shows each point's
// median round by req/s (and the range), the JSON lines every round. The run makes its own RabbitMQ vhost and
// MariaDB database and removes both at the end. Traffic stays on 127.0.0.1; every loop is bounded
// in time. Output: results/peers-<time>.jsonl (one header line, then one line per point) and
// results/peers-<time>.md (the table, with ratios to the raw ceiling of the same run).
import { execFile, fork, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import net from "node:net"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import mysql from "mysql2/promise"
import { cpuSnapshot, round, rssMb, services } from "./lib/common.mjs"

const run = promisify(execFile)
const here = path.dirname(fileURLToPath(import.meta.url))

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2)
const option = (name, fallback) => {
  const arg = argv.find((a) => a === `--${name}` || a.startsWith(`--${name}=`))
  return arg === undefined ? fallback : arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : "true"
}
const positive = (name, value) => {
  const n = Number(value)
  if (!(n > 0)) throw new Error(`--${name}: expected a positive number, found ${value}`)
  return n
}
if (argv.includes("--help")) {
  console.log(readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").filter((l) => l.startsWith("//")).map((l) => l.slice(3)).join("\n"))
  process.exit(0)
}
const PEERS = ["raw", "beds", "moleculer", "nest"]
const DURATION_MS = positive("duration", option("duration", "10")) * 1000
const WARMUP_MS = Number(option("warmup", "3")) * 1000
const POINT_WARMUP_MS = Number(option("point-warmup", "1")) * 1000
const CONCURRENCY = option("concurrency", "1,16,64,256").split(",").map((c) => positive("concurrency", c))
const ONLY = option("only", PEERS.join(",")).split(",")
for (const p of ONLY) if (!PEERS.includes(p)) throw new Error(`--only: unknown peer ${p}; one of ${PEERS.join(", ")}`)
const SELECTED = PEERS.filter((p) => ONLY.includes(p))
const PREFETCH = positive("prefetch", option("prefetch", "256"))
const ROWS = positive("rows", option("rows", "1000"))
const ROUNDS = positive("rounds", option("rounds", "1"))
const PAYLOAD = "x".repeat(100)
const OUT_DIR = path.resolve(option("out", path.join(here, "results")))
const BEDS_DIR = process.env.BEDS_DIR ? path.resolve(process.env.BEDS_DIR) : undefined
// Every peer needs it: the bench procedure and the pool size come from the BEDS checkout.
if (BEDS_DIR === undefined || !existsSync(path.join(BEDS_DIR, "dist", "main.js"))) {
  throw new Error("BEDS_DIR must name a built BEDS checkout (dist/main.js); run.sh finds or builds one")
}

// ---------------------------------------------------------------- cleanup, in reverse

const cleanups = []
let cleaning
const cleanUp = () => {
  cleaning ??= (async () => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error) => console.error(`cleanup: ${error?.message ?? error}`))
    }
  })()
  return cleaning
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping what this run started`)
    cleanUp().finally(() => process.exit(130))
  })
}

const exited = (child) => child.exitCode !== null || child.signalCode !== null
/** Ends a child we started, by its PID: SIGTERM (unless `askedMs` says it was asked to exit and
 * gets that long first), then SIGKILL after `graceMs`. */
const stopChild = (child, graceMs = 15_000, askedMs = 0) =>
  new Promise((resolve) => {
    if (exited(child)) return resolve()
    const timers = [
      setTimeout(() => exited(child) || child.kill("SIGTERM"), askedMs),
      setTimeout(() => exited(child) || child.kill("SIGKILL"), askedMs + graceMs)
    ]
    child.once("exit", () => {
      for (const timer of timers) clearTimeout(timer)
      resolve()
    })
  })

// ---------------------------------------------------------------- services (shared: only checked)

const listening = (port, host) =>
  new Promise((resolve) => {
    const socket = net.connect({ port, host })
    const done = (ok) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(2_000, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

/** The RabbitMQ node's OS pid (there may be other beam.smp processes: rabbitmqctl's own, others'). */
const rabbitPid = async () => Number(/\d+/.exec((await run("rabbitmqctl", ["eval", "os:getpid()."])).stdout)?.[0])
/** The pid of the MariaDB server we talk to (there may be others on this machine). */
const mariadbPid = async (db) => {
  const [[row]] = await db.query("SELECT @@pid_file AS pidFile, @@datadir AS datadir")
  const pidFile = path.isAbsolute(row.pidFile) ? row.pidFile : path.join(row.datadir, row.pidFile)
  return Number(readFileSync(pidFile, "utf8").trim())
}
/** A port nothing listens on now: the BEDS node's MongoDB and DynamoDB endpoints (it does not use them here). */
const closedPort = () =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

// ---------------------------------------------------------------- set-up

const runId = `peers_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`

/** mysql2 pool size the BEDS node uses (its MariaDB adapter's maxConnections), given to every peer. */
const bedsPoolSize = () => {
  if (process.env.PEERS_POOL) return positive("PEERS_POOL", process.env.PEERS_POOL)
  const layers = path.join(BEDS_DIR, "dist", "adapters", "layers.js")
  const match = existsSync(layers) ? /maxConnections:\s*(\d+)/.exec(readFileSync(layers, "utf8")) : null
  if (!match) {
    console.error("could not read the BEDS node's MariaDB pool size from its build; every peer gets 16 (set PEERS_POOL to choose)")
    return 16
  }
  return Number(match[1])
}
const POOL = bedsPoolSize()

/** The BEDS bench procedure and table: the same file BEDS's own bench applies. */
const schemaSql = () => readFileSync(path.join(BEDS_DIR, "bench", "schema", "mariadb", "bench.sql"), "utf8")

/**
 * BEDS's own store objects (schema/beds/mariadb: the idempotency store every MariaDB write uses,
 * tickets), which a BEDS node's IPL requires beside the DBA's objects since exactly-once mutations:
 * without them the node disables bench_rel and answers every request with an error. Adapted here
 * from the shared harness, which applied only bench.sql. The other peers never touch them.
 */
const bedsOwnSchemaSql = () => {
  const dir = path.join(BEDS_DIR, "schema", "beds", "mariadb")
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".sql")).sort().map((f) => readFileSync(path.join(dir, f), "utf8")) : []
}

const setUp = async () => {
  for (const [name, port, host] of [["RabbitMQ", services.amqpPort, services.amqpHost], ["MariaDB", services.mysqlPort, services.mysqlHost]]) {
    if (!(await listening(port, host))) throw new Error(`${name} is not listening on ${host}:${port}; start it first (this run never starts or stops it)`)
  }
  await run("rabbitmqctl", ["add_vhost", runId])
  cleanups.push(() => run("rabbitmqctl", ["delete_vhost", runId]))
  await run("rabbitmqctl", ["set_permissions", "-p", runId, services.amqpUser, ".*", ".*", ".*"])

  const admin = await mysql.createConnection({
    host: services.mysqlHost, port: services.mysqlPort, user: services.mysqlUser, password: services.mysqlPassword, multipleStatements: true
  })
  cleanups.push(() => admin.end())
  await admin.query(`CREATE DATABASE \`${runId}\``)
  cleanups.push(() => admin.query(`DROP DATABASE IF EXISTS \`${runId}\``))
  await admin.query(`USE \`${runId}\``)
  await admin.query(schemaSql())
  for (const sql of bedsOwnSchemaSql()) await admin.query(sql)
  await admin.query("INSERT INTO bnr_items (payload) VALUES ?", [Array.from({ length: ROWS }, () => [PAYLOAD])])
  const [[{ n }]] = await admin.query("SELECT COUNT(*) AS n FROM bnr_items")
  if (Number(n) !== ROWS) throw new Error(`seeded ${n} rows, expected ${ROWS}`)

  const [[versions]] = await admin.query("SELECT VERSION() AS mariadb")
  const pids = { rabbitmq: await rabbitPid(), mariadb: await mariadbPid(admin) }
  for (const [name, pid] of Object.entries(pids)) {
    if (!(pid > 0) || !existsSync(`/proc/${pid}/stat`)) throw new Error(`could not find the ${name} server's process (found ${pid})`)
  }
  return { admin, pids, mariadbVersion: versions.mariadb }
}

const childEnv = () => ({
  ...process.env,
  PEERS_RUN_ID: runId,
  PEERS_POOL: String(POOL),
  PEERS_PREFETCH: String(PREFETCH),
  PEERS_ROWS: String(ROWS),
  BEDS_DIR
})

/** A server of ours (raw, moleculer, nest): forked, ready when it says so. */
const startServer = async (peer) => {
  const child = fork(path.join(here, "servers", `${peer}.mjs`), [], { env: childEnv(), stdio: ["ignore", "inherit", "inherit", "ipc"] })
  cleanups.push(() => stopChild(child))
  await waitFor(child, "ready", 60_000, `the ${peer} server`)
  return child
}

/** The BEDS node: `node dist/main.js` with a config dir of this run's own, serving only bench_rel. */
const startBedsNode = async () => {
  const configDir = mkdtempSync(path.join(os.tmpdir(), "peers-beds-config-"))
  cleanups.push(async () => rmSync(configDir, { recursive: true, force: true }))
  copyFileSync(path.join(BEDS_DIR, "config", "beds.toml"), path.join(configDir, "beds.toml"))
  const templates = path.join(configDir, "templates")
  mkdirSync(templates)
  copyFileSync(path.join(BEDS_DIR, "bench", "templates", "bench_rel.toml"), path.join(templates, "bench_rel.toml"))
  const shared = path.join(configDir, "shared")
  mkdirSync(shared)
  const instances = 4 // beds.toml's rBroker instances; prefetch splits the common total over them
  const perInstance = Math.max(1, Math.round(PREFETCH / instances))
  const toml = (value) => JSON.stringify(value) // TOML basic strings read JSON's escapes
  // env dev: MongoDB and DynamoDB (which the appServer role checks at boot) point at closed ports;
  // the node boots degraded, serving its MariaDB templates, as dev allows. Nothing here uses them.
  writeFileSync(path.join(configDir, "env_dev.toml"), [
    "config_version = 1",
    "[node]", `id = "peers1"`,
    "[logging]", `level = "info"`, `format = "json"`,
    "[rabbitmq]", `host = ${toml(services.amqpHost)}`, `port = ${services.amqpPort}`, `vhost = ${toml(runId)}`,
    `username = ${toml(services.amqpUser)}`, `password = ${toml(services.amqpPassword)}`,
    "[mariadb.master]", `host = ${toml(services.mysqlHost)}`, `port = ${services.mysqlPort}`, `database = ${toml(runId)}`,
    `username = ${toml(services.mysqlUser)}`, `password = ${toml(services.mysqlPassword)}`,
    "[mongodb]", `uri = "mongodb://127.0.0.1:${await closedPort()}"`, `database = ${toml(runId)}`,
    "[dynamodb]", `endpoint = "http://127.0.0.1:${await closedPort()}"`, `access_key_id = "local"`, `secret_access_key = "local"`,
    "[shared_fs]", `path = ${toml(shared)}`,
    "[templates]", `directory = ${toml(templates)}`, `schema_directory = ${toml(path.join(BEDS_DIR, "bench", "schema"))}`,
    "[brokers.rBroker]", `instances = ${instances}`, `prefetch = ${perInstance}`,
    ""
  ].join("\n"))
  const node = spawn(process.execPath, [path.join(BEDS_DIR, "dist", "main.js")], {
    cwd: BEDS_DIR,
    env: { PATH: process.env.PATH ?? "", BEDS_ENV: "dev", BEDS_CONFIG_DIR: configDir, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
    stdio: ["ignore", "pipe", "inherit"]
  })
  cleanups.push(() => stopChild(node))
  const warnings = []
  await new Promise((resolve, reject) => {
    let buffered = ""
    const timer = setTimeout(() => reject(new Error(`the BEDS node did not come up within 90 s; ${warnings.join("; ")}`)), 90_000)
    node.once("exit", (code) => reject(new Error(`the BEDS node exited with ${code} before it was up; ${warnings.join("; ")}`)))
    node.stdout.on("data", (chunk) => {
      buffered += chunk
      let newline
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        let entry
        try {
          entry = JSON.parse(line)
        } catch {
          continue
        }
        const message = String(entry.message ?? "")
        if (/warn|error|fatal/i.test(String(entry.logLevel ?? entry.level ?? ""))) warnings.push(message.slice(0, 300))
        if (message.startsWith("templates:")) console.log(`  beds: ${message}`)
        if (message.startsWith("node up")) {
          clearTimeout(timer)
          console.log(`  beds: ${message}`)
          resolve()
        }
      }
    })
  })
  // Keep draining its stdout (a full pipe would block the node); count what it logs while measured.
  node.stdout.removeAllListeners("data")
  node.stdout.on("data", () => undefined)
  if (!warnings.every((w) => /mongodb|dynamodb|degraded|ipl|step/i.test(w))) console.log(`  beds warnings at boot: ${warnings.join(" | ")}`)
  return { child: node, bootWarnings: warnings }
}

const waitFor = (child, type, ms, what) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} was not ${type} within ${ms / 1000} s`)), ms)
    const onMessage = (message) => {
      if (message?.type !== type) return
      clearTimeout(timer)
      child.off("message", onMessage)
      child.off("exit", onExit)
      resolve(message)
    }
    const onExit = (code) => {
      clearTimeout(timer)
      reject(new Error(`${what} exited with ${code}`))
    }
    child.on("message", onMessage)
    child.once("exit", onExit)
  })

const startClient = async (peer) => {
  // stdout dropped: the BEDS client logs its connection there; errors come on stderr.
  const child = fork(path.join(here, "client.mjs"), [peer], { env: childEnv(), stdio: ["ignore", "ignore", "inherit", "ipc"] })
  cleanups.push(async () => {
    const asked = child.connected
    if (asked) child.send({ type: "close" })
    await stopChild(child, 5_000, asked ? 8_000 : 0)
  })
  await waitFor(child, "ready", 60_000, `the ${peer} client`)
  return child
}

/** One point, run by the peer's client process (which also reads every process's CPU around it). */
const point = async (peer, concurrency, ms, pids) => {
  if (cleaning !== undefined) throw new Error("stopped")
  peer.client.send({ type: "point", concurrency, ms, pids })
  const { result } = await waitFor(peer.client, "result", ms + 60_000, `the ${peer.name} client`)
  return result
}

// ---------------------------------------------------------------- the run

const machine = async () => ({
  cores: os.cpus().length,
  cpu: os.cpus()[0]?.model ?? "unknown",
  memory_gib: round(os.totalmem() / 1024 ** 3, 1),
  loadavg_at_start: os.loadavg().map((l) => round(l)),
  node: process.version,
  rabbitmq: (await run("rabbitmqctl", ["version"]).catch(() => ({ stdout: "?" }))).stdout.trim()
})

const versions = () => {
  const own = JSON.parse(readFileSync(path.join(here, "package.json"), "utf8")).dependencies
  const lock = JSON.parse(readFileSync(path.join(here, "package-lock.json"), "utf8")).packages
  const installed = (name) => lock[`node_modules/${name}`]?.version ?? own[name]
  const beds = (() => {
    const pkg = JSON.parse(readFileSync(path.join(BEDS_DIR, "package.json"), "utf8"))
    let commit = "unknown"
    try {
      commit = readFileSync(path.join(BEDS_DIR, ".git", "HEAD"), "utf8").trim()
      if (commit.startsWith("ref: ")) commit = readFileSync(path.join(BEDS_DIR, ".git", commit.slice(5)), "utf8").trim()
    } catch { /* not a git checkout */ }
    return { version: pkg.version, commit, amqplib: pkg.dependencies.amqplib, mysql2: pkg.dependencies.mysql2, effect: pkg.dependencies.effect }
  })()
  return {
    beds,
    moleculer: installed("moleculer"),
    "@nestjs/microservices": installed("@nestjs/microservices"),
    "@nestjs/core": installed("@nestjs/core"),
    "amqp-connection-manager": installed("amqp-connection-manager"),
    amqplib: installed("amqplib"),
    mysql2: installed("mysql2")
  }
}

/** Background CPU of the shared services with no load of ours: other work on this machine shows here. */
const idleSample = async (pids, ms = 2_000) => {
  const before = cpuSnapshot(pids)
  await new Promise((resolve) => setTimeout(resolve, ms))
  const after = cpuSnapshot(pids)
  return Object.fromEntries(Object.keys(pids).map((k) => [k, round((after[k] - before[k]) / (ms / 1000), 0)]))
}

const main = async () => {
  const startedAt = new Date()
  console.log(`peers bench ${runId}: ${SELECTED.join(", ")}; concurrency ${CONCURRENCY.join(", ")}; ${DURATION_MS / 1000} s per point; pool ${POOL}; prefetch ${PREFETCH}`)
  const env = await setUp()
  const shared = env.pids
  const header = {
    kind: "header",
    run_id: runId,
    at: startedAt.toISOString(),
    machine: { ...(await machine()), mariadb: env.mariadbVersion },
    versions: versions(),
    settings: {
      duration_ms: DURATION_MS, warmup_ms: WARMUP_MS, point_warmup_ms: POINT_WARMUP_MS, concurrency: CONCURRENCY,
      peers: SELECTED, rounds: ROUNDS, mysql2_pool: POOL, prefetch_total: PREFETCH, rows: ROWS, payload_bytes: PAYLOAD.length
    },
    idle_cpu_us_per_s_before: await idleSample(shared)
  }
  console.log(`  idle CPU of the shared services before the run (µs per s): ${JSON.stringify(header.idle_cpu_us_per_s_before)}`)

  // Every server and client up at once, so the points can be interleaved (this machine's speed
  // drifts: interleaving spreads the drift over all peers instead of charging one).
  const peers = []
  for (const name of SELECTED) {
    const server = name === "beds" ? (await startBedsNode()).child : await startServer(name)
    const client = await startClient(name)
    peers.push({ name, server, client })
    console.log(`  ${name}: server pid ${server.pid}, client pid ${client.pid}`)
  }
  const pidsOf = (peer) => ({ server: peer.server.pid, ...shared })

  // Warm-up, not recorded: every process compiles its hot path (the JIT) before any point.
  if (WARMUP_MS > 0) {
    for (const peer of peers) {
      const r = await point(peer, 16, WARMUP_MS, pidsOf(peer))
      console.log(`  warm-up ${peer.name}: ${r.rps} req/s, ${r.errors} errors${r.first_error ? ` (${r.first_error})` : ""}`)
    }
  }

  mkdirSync(OUT_DIR, { recursive: true })
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-")
  const jsonlFile = path.join(OUT_DIR, `peers-${stamp}.jsonl`)
  writeFileSync(jsonlFile, JSON.stringify(header) + "\n")
  const points = []
  const measureOne = async (peer, concurrency, roundNo) => {
    if (POINT_WARMUP_MS > 0) await point(peer, concurrency, POINT_WARMUP_MS, pidsOf(peer))
    const r = await point(peer, concurrency, DURATION_MS, pidsOf(peer))
    const line = { kind: "point", peer: peer.name, concurrency, round: roundNo, ...r, server_rss_mb: rssMb(peer.server.pid), loadavg_1m: round(os.loadavg()[0]) }
    points.push(line)
    writeFileSync(jsonlFile, JSON.stringify(line) + "\n", { flag: "a" })
    const cpu = line.cpu_us_per_req
    console.log(
      `${peer.name.padEnd(10)} c=${String(concurrency).padStart(3)}${ROUNDS > 1 ? ` r${roundNo}` : ""} ${String(line.rps).padStart(6)} req/s  p50 ${line.p50_ms} p95 ${line.p95_ms} p99 ${line.p99_ms} ms  errors ${line.errors}` +
        `  µs/req server ${cpu.server} rabbitmq ${cpu.rabbitmq} mariadb ${cpu.mariadb} client ${cpu.client}${line.first_error ? `  first error: ${line.first_error}` : ""}`
    )
  }
  let turn = 0
  for (let roundNo = 1; roundNo <= ROUNDS; roundNo++) {
    for (const concurrency of CONCURRENCY) {
      // Rotated each time, so that no peer always runs first, or always right after the same one.
      const order = peers.map((_, i) => peers[(i + turn) % peers.length])
      turn++
      for (const peer of order) await measureOne(peer, concurrency, roundNo)
    }
  }
  const footer = { kind: "footer", idle_cpu_us_per_s_after: await idleSample(shared), finished_at: new Date().toISOString() }
  writeFileSync(jsonlFile, JSON.stringify(footer) + "\n", { flag: "a" })
  const md = markdown(header, points, footer)
  const mdFile = path.join(OUT_DIR, `peers-${stamp}.md`)
  writeFileSync(mdFile, md)
  console.log(`\n${md}`)
  console.log(`results: ${path.relative(process.cwd(), jsonlFile)}, ${path.relative(process.cwd(), mdFile)}`)
}

// ---------------------------------------------------------------- the table

const total = (p) => ["server", "rabbitmq", "mariadb", "client"].reduce((sum, k) => sum + (Number.isFinite(p.cpu_us_per_req[k]) ? p.cpu_us_per_req[k] : 0), 0)
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? round(a / b) : "-")

/** Each (peer, concurrency)'s median round by req/s (the lower middle one for an even count). */
const medians = (points) => {
  const groups = new Map()
  for (const p of points) {
    const key = `${p.peer}/${p.concurrency}`
    groups.set(key, [...(groups.get(key) ?? []), p])
  }
  return [...groups.values()].map((group) => {
    const sorted = [...group].sort((a, b) => a.rps - b.rps)
    return { ...sorted[Math.floor((sorted.length - 1) / 2)], rps_range: [sorted[0].rps, sorted.at(-1).rps], rounds: group.length }
  })
}

const markdown = (header, allPoints, footer) => {
  const points = medians(allPoints)
  const multi = header.settings.rounds > 1
  const m = header.machine
  const v = header.versions
  const s = header.settings
  const lines = [
    `# BEDS and its peers, ${header.at}`,
    "",
    `${m.cores} cores (${m.cpu}), ${m.memory_gib} GiB, load average at start ${m.loadavg_at_start.join(" ")}; Node ${m.node}, RabbitMQ ${m.rabbitmq}, MariaDB ${m.mariadb}.`,
    `BEDS ${v.beds ? `${v.beds.version} at ${v.beds.commit.slice(0, 12)} (amqplib ${v.beds.amqplib}, mysql2 ${v.beds.mysql2}, effect ${v.beds.effect})` : "not run"}; ` +
      `Moleculer ${v.moleculer}; @nestjs/microservices ${v["@nestjs/microservices"]} (@nestjs/core ${v["@nestjs/core"]}, amqp-connection-manager ${v["amqp-connection-manager"]}); peers' amqplib ${v.amqplib}, mysql2 ${v.mysql2}.`,
    `Work: one MariaDB read per request (CALL bnr_by_id(?), by primary key, ids 1..${s.rows} in turn, ${s.payload_bytes}-byte payload column). ` +
      `Each peer: one server process, mysql2 pool of ${s.mysql2_pool}, ${s.prefetch_total} requests in flight at the server at most (prefetch), TCP_NODELAY; ` +
      `${s.duration_ms / 1000} s per point after ${s.point_warmup_ms / 1000} s unrecorded at the same concurrency; ${s.warmup_ms / 1000} s warm-up per peer first.`,
    `CPU: µs of CPU per request (utime+stime from /proc) of the peer's server, RabbitMQ (beam.smp), MariaDB (mariadbd) and the peer's client process; total = their sum. ` +
      `Idle CPU of RabbitMQ/MariaDB with no load of ours (µs per s): before ${JSON.stringify(header.idle_cpu_us_per_s_before)}, after ${JSON.stringify(footer.idle_cpu_us_per_s_after)}: other work on the machine is in their figures.`,
    "",
    ...(multi ? [`Each row is the median of ${header.settings.rounds} rounds by req/s (its own latencies and CPU); "range" is the lowest and highest req/s of the rounds.`, ""] : []),
    `| peer | in flight | req/s |${multi ? " range |" : ""} req/s ÷ raw | p50 ms | p95 ms | p99 ms | p99 ÷ raw | errors | server µs/req | server ÷ raw | RabbitMQ µs/req | MariaDB µs/req | client µs/req | total µs/req | total ÷ raw |`,
    `| --- | --- | --- |${multi ? " --- |" : ""} --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`
  ]
  for (const c of s.concurrency) {
    const raw = points.find((p) => p.peer === "raw" && p.concurrency === c)
    for (const p of points.filter((p) => p.concurrency === c).sort((a, b) => PEERS.indexOf(a.peer) - PEERS.indexOf(b.peer))) {
      const cpu = p.cpu_us_per_req
      lines.push(`| ${p.peer} | ${c} | ${p.rps} |${multi ? ` ${p.rps_range.join("-")} |` : ""} ${raw ? ratio(p.rps, raw.rps) : "-"} | ${p.p50_ms} | ${p.p95_ms} | ${p.p99_ms} | ${raw ? ratio(p.p99_ms, raw.p99_ms) : "-"} | ${p.errors} | ` +
        `${cpu.server} | ${raw ? ratio(cpu.server, raw.cpu_us_per_req.server) : "-"} | ${cpu.rabbitmq} | ${cpu.mariadb} | ${cpu.client} | ${total(p)} | ${raw ? ratio(total(p), total(raw)) : "-"} |`)
    }
  }
  lines.push("", "Ratios are to the raw ceiling (plain amqplib + mysql2) at the same concurrency in this run. Compare within one run only.", "")
  return lines.join("\n")
}

try {
  await main()
} catch (error) {
  console.error(`peers bench: ${error?.stack ?? error}`)
  process.exitCode = 1
} finally {
  await cleanUp()
}
