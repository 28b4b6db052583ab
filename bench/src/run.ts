// `npm run bench`: the full BEDS path against the raw ceilings, side by side in one run, on this
// machine's RabbitMQ and MariaDB and a jongodb and dynalite of its own; traffic on 127.0.0.1
// only, bounded in time, stops by itself. `npm run bench -- --soak` sends 1,000,000 requests
// through the full path and samples the node's heap and RSS. See BENCHMARKS.md.
import amqp from "amqplib"
import { execFile, fork, spawn, type ChildProcess } from "node:child_process"
import { randomBytes, randomUUID } from "node:crypto"
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { Agent, createServer, request as httpRequest } from "node:http"
import type { AddressInfo } from "node:net"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import mysql from "mysql2/promise"
import { stringify } from "smol-toml"
// BEDS as its users get it: the built client (npm run build), typed by its declarations.
import { connectBedsClient, type BedsClientPromise } from "../../dist/client/promise.js"
import type { RequestOptions } from "../../dist/client/client.js"
// The plain-JavaScript helper the tests and `npm run up` use (typed by scripts/local-services.d.mts).
import { freePort, startIsolatedServices } from "../../scripts/local-services.mjs"

const run = promisify(execFile)
const root = fileURLToPath(new URL("../..", import.meta.url))
const argv = process.argv.slice(2)
const args = new Set(argv)
const option = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3)
const SOAK = args.has("--soak")
const QUICK = args.has("--quick") // a smoke run: short points, for checking the harness itself
// --point-ms=20000 lengthens each point, e.g. so a profile is mostly steady state, not start-up.
const POINT_MS = Number(option("point-ms") ?? (QUICK ? 700 : 4_000))
const WARMUP_MS = QUICK ? 300 : 1_500
/** --concurrency=64 and --only=beds_mariadb_read,raw_echo narrow the run (e.g. for a profile). */
const CONCURRENCY = option("concurrency")?.split(",").map(Number) ?? [1, 16, 64, 256]
const ONLY = option("only")?.split(",")
const SOAK_TOTAL = 1_000_000
// --perf: the node and the raw worker write jit-PID.dump files (in bench/results/perf), so a
// `perf record -k 1` of them (Linux perf samples CPU time, kernel included) can name their
// JavaScript frames after `perf inject --jit`; BENCHMARKS.md has the steps. --profile's
// --cpu-prof samples wall time: a thread a syscall put to sleep still counts there as busy in it.
// --tracing=0.01 (or 1): the node traces at that sample ratio, exporting to an OTLP sink in this
// process that reads and drops what it gets; --scrape: the node's /metrics is scraped every second.
// Both measure what observability costs the node (BENCHMARKS.md); without them both are off.
const TRACING = option("tracing")
const SCRAPE = args.has("--scrape")
// --signed: the node takes only signed requests and signs its events (docs/protocol.md, Trust); the
// client signs every request. Without it the node takes them unsigned, as dev does (and as the
// peer harness sends them), so the two runs side by side give what trust costs.
const SIGNED = args.has("--signed")
const signingSecret = randomBytes(32).toString("base64url")
// The HTTP gateway (docs/gateway.md) is turned on only when an http_ scenario runs: it holds a
// RabbitMQ connection of its own in the node, which the other scenarios should not carry.
const GATEWAY = ONLY === undefined || ONLY.some((s) => s.startsWith("http_"))
const gatewayKey = randomBytes(24).toString("base64url")
const PERF = args.has("--perf")
const PERF_DIR = path.join(root, "bench", "results", "perf")
const PERF_FLAGS = [...(PERF ? ["--perf-prof", "--interpreted-frames-native-stack"] : []), ...(process.env["BENCH_NODE_FLAGS"]?.split(" ").filter(Boolean) ?? [])]
// --workers=2: the node runs with node.workers = 2 (a primary and two worker processes); its CPU
// is then that of its whole process tree (treeCpuMicros). Default 1: one process, nothing forked.
const WORKERS = Number(option("workers") ?? 1)
if (!Number.isInteger(WORKERS) || WORKERS < 1) throw new Error(`--workers=${option("workers")}: a whole number, 1 or more`)
// --quorum: the broker queues are quorum queues (rabbitmq.queue_type; one member on this machine's
// single RabbitMQ node, so replication to followers is not in the figure).
const QUORUM = args.has("--quorum")

// ---------------------------------------------------------------- measuring

/** utime + stime of a process, in microseconds (from /proc; clock ticks of 10 ms). */
const cpuMicros = async (pid: number): Promise<number> => {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) * (1_000_000 / 100)
}
/**
 * The CPU of a process and everything it forked, in microseconds: its own utime + stime, its
 * cutime + cstime (children it has already waited for, such as a worker that died and was
 * replaced), and each live child's own total, found in /proc/<pid>/task/<tid>/children. That is
 * how a node with node.workers > 1 is measured: the primary plus its worker processes.
 */
const treeCpuMicros = async (pid: number): Promise<number> => {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  const own = (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) * (1_000_000 / 100)
  const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as Array<string>)
  const children = new Set<number>()
  for (const task of tasks) {
    const listed = await readFile(`/proc/${pid}/task/${task}/children`, "utf8").catch(() => "")
    for (const child of listed.split(" ").filter((word) => word.length > 0)) children.add(Number(child))
  }
  // A child that exits between the listing and its reading counts as nothing here; the next
  // snapshot has it in cutime once reaped.
  const theirs = await Promise.all([...children].map((child) => treeCpuMicros(child).catch(() => 0)))
  return theirs.reduce((sum, micros) => sum + micros, own)
}
/** Processes measured as a tree (the node); the others by their own CPU only. */
const TREES = new Set(["node"])
/** CPU microseconds so far of each named process. */
const cpuSnapshot = async (pids: Record<string, number>): Promise<Record<string, number>> =>
  Object.fromEntries(await Promise.all(Object.entries(pids).map(async ([k, pid]) => [k, await (TREES.has(k) ? treeCpuMicros(pid) : cpuMicros(pid))] as const)))
const pidOf = async (pattern: string) => Number((await run("pgrep", ["-o", "-f", pattern])).stdout.trim())
/**
 * The process listening on 127.0.0.1:`port` (from `ss -ltnp`): the machine's own RabbitMQ and
 * MariaDB, not a private server another run (a chaos lab, a test) started beside them. Falls back
 * to the oldest process matching `pattern` when ss shows no pid.
 */
const listenerPid = async (port: number, pattern: string) => {
  const listing = await run("ss", ["-ltnpH", `sport = :${port}`]).then((r) => r.stdout, () => "")
  const pid = /pid=(\d+)/.exec(listing)?.[1]
  return pid === undefined ? pidOf(pattern) : Number(pid)
}

interface Point {
  readonly scenario: string
  readonly concurrency: number
  readonly requests: number
  readonly errors: number
  readonly rps: number
  readonly p50_ms: number
  readonly p95_ms: number
  readonly p99_ms: number
  /** CPU microseconds per request, per process. */
  readonly cpu_us_per_req: Record<string, number>
  /** The machine's 1-minute load average at the point's end (it is shared: read figures with it). */
  readonly load1: number
}

const percentile = (sorted: Array<number>, p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits

/** A closed loop: `concurrency` callers, each sending its next request when the last is answered. */
const measure = async (
  scenario: string,
  concurrency: number,
  limits: { readonly ms: number; readonly count?: number },
  pids: Record<string, number>,
  send: (i: number) => Promise<boolean>
): Promise<Point> => {
  const latencies: Array<number> = []
  let errors = 0
  let sent = 0
  const cpuBefore = await cpuSnapshot(pids)
  const started = performance.now()
  const deadline = started + limits.ms
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline && (limits.count === undefined || sent < limits.count)) {
      const i = sent++
      const t0 = performance.now()
      const ok = await send(i).catch(() => false)
      latencies.push(performance.now() - t0)
      if (!ok) errors++
    }
  }))
  const seconds = (performance.now() - started) / 1000
  const cpuAfter = await cpuSnapshot(pids)
  latencies.sort((a, b) => a - b)
  const requests = latencies.length
  const point: Point = {
    scenario,
    concurrency,
    requests,
    errors,
    rps: round(requests / seconds, 0),
    p50_ms: round(percentile(latencies, 50)),
    p95_ms: round(percentile(latencies, 95)),
    p99_ms: round(percentile(latencies, 99)),
    cpu_us_per_req: Object.fromEntries(Object.keys(pids).map((k) => [k, round((cpuAfter[k]! - cpuBefore[k]!) / Math.max(1, requests), 0)])),
    load1: round(os.loadavg()[0]!)
  }
  console.log(`${scenario.padEnd(22)} c=${String(concurrency).padStart(3)} ${String(point.rps).padStart(6)} req/s  p50 ${point.p50_ms} p99 ${point.p99_ms} ms  errors ${errors}  cpu us/req ${JSON.stringify(point.cpu_us_per_req)}  load ${point.load1}`)
  return point
}

// ---------------------------------------------------------------- the raw client

/** A plain amqplib request/reply client (direct reply-to), the raw counterpart of BedsClient. */
const rawClient = async (url: string) => {
  const connection = await amqp.connect(url, { noDelay: true })
  const channel = await connection.createChannel()
  const pending = new Map<string, (ok: boolean) => void>()
  await channel.consume("amq.rabbitmq.reply-to", (m) => {
    if (m !== null) pending.get(m.properties.correlationId)?.(!m.content.includes("\"error\""))
  }, { noAck: true })
  return {
    request: (body: unknown) =>
      new Promise<boolean>((resolve) => {
        const id = randomUUID()
        const timer = setTimeout(() => {
          pending.delete(id)
          resolve(false)
        }, 10_000)
        pending.set(id, (ok) => {
          clearTimeout(timer)
          pending.delete(id)
          resolve(ok)
        })
        channel.sendToQueue("bench.raw", Buffer.from(JSON.stringify(body)), { correlationId: id, replyTo: "amq.rabbitmq.reply-to" })
      }),
    close: () => connection.close()
  }
}

// ---------------------------------------------------------------- setup and teardown

interface Environment {
  readonly runId: string
  readonly amqpUrl: string
  readonly client: BedsClientPromise
  readonly node: ChildProcess
  readonly worker: ChildProcess
  readonly metrics: Array<{ at: number; rss_mb: number; heap_used_mb: number; pools: string }>
  readonly pids: Record<string, number>
  readonly db: mysql.Pool
  /** The gateway's base URL, when GATEWAY. */
  readonly gateway: string | undefined
  readonly cleanups: Array<() => Promise<unknown>>
}

const setUp = async (): Promise<Environment> => {
  const cleanups: Array<() => Promise<unknown>> = []
  await run("bash", [path.join(root, "scripts", "ensure-services.sh")])
  const isolated = await startIsolatedServices("bench")
  cleanups.push(isolated.stop)
  const { runId } = isolated

  const configDir = await mkdtemp(path.join(os.tmpdir(), "beds-bench-"))
  cleanups.push(() => rm(configDir, { recursive: true, force: true }))
  await copyFile(path.join(root, "config", "beds.toml"), path.join(configDir, "beds.toml"))
  const shared = path.join(configDir, "shared")
  await mkdir(shared)
  const observability: Record<string, unknown> = {}
  if (TRACING !== undefined) {
    let spans = 0
    const sink = createServer((request, response) => {
      request.on("data", () => void spans++)
      request.on("end", () => response.writeHead(200, { "content-type": "application/json" }).end("{}"))
    })
    await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve))
    cleanups.push(() => new Promise((resolve) => sink.close(() => resolve(console.log(`tracing sink: ${spans} chunks received`)))))
    observability["tracing"] = { enabled: true, endpoint: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/traces`, sample_ratio: Number(TRACING) }
  }
  if (SCRAPE) {
    const port = await freePort()
    observability["observability"] = { http_port: port, http_host: "127.0.0.1" }
    const scraper = setInterval(() => void fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(() => undefined), 1_000)
    cleanups.push(async () => clearInterval(scraper))
  }
  const gatewayPort = GATEWAY ? await freePort() : undefined
  await writeFile(path.join(configDir, "env_dev.toml"), stringify({
    config_version: 1,
    node: { id: "bench1", workers: WORKERS },
    logging: { level: "info", format: "json" },
    rabbitmq: { vhost: runId, username: "guest", password: "guest", queue_type: QUORUM ? "quorum" : "classic" },
    mariadb: { master: { database: runId, username: "root", password: "" } },
    mongodb: { uri: isolated.mongoUri, database: runId },
    dynamodb: { endpoint: isolated.dynamoEndpoint, access_key_id: "local", secret_access_key: "local" },
    shared_fs: { path: shared },
    templates: { directory: path.join(root, "bench", "templates"), schema_directory: path.join(root, "bench", "schema") },
    metrics: { interval_s: 1 },
    ...observability,
    ...(SIGNED
      ? {
        trust: {
          anonymous_in: [],
          keys: { bench: { producer: "bench", secret: signingSecret } },
          node_keys: { bench_nodes: randomBytes(32).toString("base64url") },
          node_key: "bench_nodes"
        }
      }
      : {}),
    ...(gatewayPort === undefined
      ? {}
      : { gateway: { enabled: true, port: gatewayPort, api_keys: { bench: { secret: gatewayKey } }, ...(SIGNED ? { signing_key: "bench" } : {}) } })
  }))
  const env = { PATH: process.env["PATH"] ?? "", BEDS_CONFIG_DIR: configDir, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" }
  await run(process.execPath, [path.join(root, "dist", "schema-apply.js")], { env })

  const db = mysql.createPool({ host: "127.0.0.1", user: "root", password: "", database: runId, connectionLimit: 16 })
  cleanups.push(() => db.end())
  const rows = Array.from({ length: 1_000 }, (_, i) => [`seed payload ${i}`])
  await db.query("INSERT INTO bnr_items (payload) VALUES ?", [rows])

  const metrics: Environment["metrics"] = []
  // Soak only: --expose-gc makes the node's metrics line collect garbage before sampling (live heap,
  // see metrics.ts); in the sweep a collection every second would cost throughput.
  const nodeArgs = [
    ...(SOAK ? ["--expose-gc"] : []),
    ...(args.has("--profile") ? ["--cpu-prof", `--cpu-prof-dir=${path.join(root, "bench", "results")}`] : []),
    ...PERF_FLAGS
  ]
  if (PERF) await mkdir(PERF_DIR, { recursive: true })
  // A jit dump is written to the working directory.
  const node = spawn(process.execPath, [...nodeArgs, path.join(root, "dist", "main.js")], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
    ...(PERF ? { cwd: PERF_DIR } : {})
  })
  cleanups.push(() => new Promise((resolve) => {
    if (node.exitCode !== null) return resolve(undefined)
    node.once("exit", resolve)
    node.kill("SIGTERM")
  }))
  await new Promise<void>((resolve, reject) => {
    let buffered = ""
    const timer = setTimeout(() => reject(new Error("the node did not come up within 60 s")), 60_000)
    node.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString()
      let newline: number
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        const entry = JSON.parse(line) as { message: string; annotations: Record<string, unknown> }
        if (entry.message === "metrics") {
          const a = entry.annotations as { rss_mb: number; heap_used_mb: number; pools: string }
          metrics.push({ at: Date.now(), rss_mb: a.rss_mb, heap_used_mb: a.heap_used_mb, pools: a.pools })
        } else if (entry.message.startsWith("node up")) {
          clearTimeout(timer)
          resolve()
        }
      }
    })
  })
  const amqpUrl = `amqp://guest:guest@127.0.0.1:5672/${encodeURIComponent(runId)}`
  // With --profile the raw worker is profiled too, for a like-for-like look at where its time goes.
  const worker = fork(path.join(root, "bench", "dist", "raw-worker.js"), [amqpUrl, runId, "256"], {
    stdio: "inherit",
    execArgv: [...(args.has("--profile") ? ["--cpu-prof", `--cpu-prof-dir=${path.join(root, "bench", "results", "raw-worker")}`] : []), ...PERF_FLAGS],
    ...(PERF ? { cwd: PERF_DIR } : {})
  })
  cleanups.push(() => new Promise((resolve) => {
    if (worker.exitCode !== null) return resolve(undefined)
    worker.once("exit", resolve)
    worker.kill("SIGTERM")
  }))
  await new Promise((resolve) => worker.once("message", resolve))
  const client = await connectBedsClient({
    vhost: runId,
    username: "guest",
    password: "guest",
    clientId: "bench",
    timeoutMs: 15_000,
    ...(SIGNED ? { signing: { keyId: "bench", secret: signingSecret } } : {})
  })
  cleanups.push(() => client.close())
  const pids = {
    node: node.pid!,
    raw_worker: worker.pid!,
    bench_client: process.pid,
    rabbitmq: await listenerPid(5672, "beam.smp"),
    mariadb: await listenerPid(3306, "mariadbd"),
    // With workers, the primary alone too: it runs the HTTP gateway (and no broker), so in an http_
    // scenario its CPU is the gateway's, measured apart from the node's workers.
    ...(WORKERS > 1 ? { primary: node.pid! } : {})
  }
  const gateway = gatewayPort === undefined ? undefined : `http://127.0.0.1:${gatewayPort}`
  return { runId, amqpUrl, client, node, worker, metrics, pids, db, gateway, cleanups }
}

const tearDown = async (env: Environment) => {
  for (const cleanup of env.cleanups.reverse()) await cleanup().catch((error) => console.error("cleanup:", error))
}

// ---------------------------------------------------------------- the run

const okReply = (reply: { status: string }) => reply.status === "ok"

const benchmark = async (env: Environment) => {
  const { client } = env
  const request = (options: RequestOptions) => client.request(options).then(okReply)
  // node:http's client with keep-alive: one TCP connection per request in flight. Not fetch
  // (undici): it cost this process 150-340 µs per request, 4-5 times node:http's, and on two cores
  // what the load generator burns is taken from the processes measured.
  const agent = new Agent({ keepAlive: true, maxSockets: Math.max(...CONCURRENCY, 16) })
  const gatewayUrl = env.gateway === undefined ? undefined : new URL(env.gateway)
  const http = (route: string) =>
    new Promise<boolean>((resolve, reject) => {
      const request = httpRequest({ host: gatewayUrl!.hostname, port: gatewayUrl!.port, path: route, agent, headers: { "x-api-key": gatewayKey } }, (response) => {
        response.on("data", () => undefined)
        response.on("end", () => resolve(response.statusCode === 200))
        response.on("error", reject)
      })
      request.on("error", reject)
      request.end()
    })
  const raw = await rawClient(env.amqpUrl)
  const points: Array<Point> = []
  const payload = "x".repeat(100)
  // Seeded only when a scenario reads them: a narrowed run (a profile) should not pay for it.
  const runs = (prefix: string) => ONLY === undefined || ONLY.some((s) => s.startsWith(prefix))
  if (runs("beds_mongodb")) {
    for (let id = 0; id < 200; id++) await request({ template: "bench_rec", op: "create", data: { id: `seed-${id}`, payload } })
  }
  if (runs("beds_dynamodb")) {
    for (let id = 0; id < 200; id++) await request({ template: "bench_kv", op: "create", data: { id: `seed-${id}`, payload } })
  }
  let unique = 0

  const scenarios: ReadonlyArray<{ readonly name: string; readonly send: (i: number) => Promise<boolean>; readonly count?: number }> = [
    { name: "raw_echo", send: () => raw.request({ kind: "echo", payload }) },
    { name: "raw_echo_call_read", send: (i) => raw.request({ kind: "read", id: 1 + (i % 1000) }) },
    { name: "raw_echo_call_write", send: () => raw.request({ kind: "write", payload }) },
    {
      name: "raw_mysql_call",
      send: async (i) => {
        await env.db.execute("CALL bnr_by_id(?)", [1 + (i % 1000)])
        return true
      }
    },
    { name: "beds_mariadb_read", send: (i) => request({ template: "bench_rel", op: "by_id", route: "read", query: { id: 1 + (i % 1000) } }) },
    // The same read with a deadline 10 s ahead, as the HTTP gateway sends every request: the node
    // then cuts the read short at the deadline (brokers/operation.ts), which must cost little.
    { name: "beds_mariadb_read_deadline", send: (i) => request({ template: "bench_rel", op: "by_id", route: "read", query: { id: 1 + (i % 1000) }, deadline: Date.now() + 10_000 }) },
    // The same read over HTTP: bench process -> gateway -> the AMQP path above -> JSON. The gateway
    // runs in the node process (workers = 1: its cost is the node's µs/req minus beds_mariadb_read's)
    // or in the primary of several workers (--workers=2: measured apart; gatewayShare).
    { name: "http_mariadb_read", send: (i) => http(`/v1/bench_rel/by_id?id=${1 + (i % 1000)}`) },
    // A write's default delivery is reliable (persistent, confirmed): the raw pair is neither, so
    // the same write on the fast path is measured too, as the like-for-like pair.
    { name: "beds_mariadb_write", send: () => request({ template: "bench_rel", op: "create", data: { payload } }) },
    { name: "beds_mariadb_write_fast", send: () => request({ template: "bench_rel", op: "create", data: { payload }, delivery: "fast" }) },
    { name: "beds_cached_read", send: (i) => request({ template: "bench_cached", op: "fetch", query: { id: 1 + (i % 100) } }) },
    { name: "beds_mongodb_read", send: (i) => request({ template: "bench_rec", op: "fetch", query: { id: `seed-${i % 200}` } }) },
    // jongodb slows as a collection grows: writes are capped per point to keep it small.
    { name: "beds_mongodb_write", send: () => request({ template: "bench_rec", op: "create", data: { id: `w-${unique++}`, payload } }), count: 150 },
    { name: "beds_dynamodb_read", send: (i) => request({ template: "bench_kv", op: "fetch", query: { id: `seed-${i % 200}` } }) },
    { name: "beds_dynamodb_write", send: () => request({ template: "bench_kv", op: "create", data: { id: `w-${unique++}`, payload } }) }
  ]
  const selected = scenarios.filter((s) => ONLY === undefined || ONLY.includes(s.name))

  // Warm-up, not recorded: every process compiles its hot path first (the JIT), or the first
  // point of each scenario would measure compilation as much as the request path.
  for (const scenario of selected) {
    // A capped scenario (jongodb writes) warms up on a fifth of its cap, to keep its collection small.
    const count = scenario.count === undefined ? Number.MAX_SAFE_INTEGER : Math.ceil(scenario.count / 5)
    await measure(`warm-up ${scenario.name}`, 16, { ms: WARMUP_MS, count }, env.pids, scenario.send)
  }
  for (const concurrency of CONCURRENCY) {
    for (const scenario of selected) {
      const limits = { ms: POINT_MS, ...(scenario.count === undefined ? {} : { count: scenario.count }) }
      points.push(await measure(scenario.name, concurrency, limits, env.pids, scenario.send))
    }
  }
  await raw.close()
  return points
}

const soak = async (env: Environment) => {
  const samples: Array<{
    requests: number
    rss_mb: number
    heap_used_mb: number
    /** Over the last 100,000 requests, so a process that slows down shows as a rising figure. */
    rps: number
    cpu_us_per_req: Record<string, number>
  }> = []
  let window = { at: performance.now(), done: 0, cpu: await cpuSnapshot(env.pids) }
  let done = 0
  let errors = 0
  let nextSample = 100_000
  const started = performance.now()
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (done < SOAK_TOTAL) {
      done++
      const reply = await env.client.request({ template: "bench_rel", op: "by_id", route: "read", query: { id: 1 + (done % 1000) } }).catch(() => undefined)
      if (reply?.status !== "ok") errors++
      if (done >= nextSample) {
        nextSample += 100_000
        const at = performance.now()
        const requests = done - window.done
        const cpu = await cpuSnapshot(env.pids)
        const cpu_us_per_req = Object.fromEntries(Object.keys(cpu).map((k) => [k, round((cpu[k]! - window.cpu[k]!) / requests, 0)]))
        const rps = round(requests / ((at - window.at) / 1000), 0)
        window = { at, done, cpu }
        const last = env.metrics.at(-1)
        if (last !== undefined) {
          samples.push({ requests: done, rss_mb: last.rss_mb, heap_used_mb: last.heap_used_mb, rps, cpu_us_per_req })
          console.log(`soak: ${done} requests, node rss ${last.rss_mb} MB, heap ${last.heap_used_mb} MB, ${rps} req/s, cpu us/req ${JSON.stringify(cpu_us_per_req)}`)
        }
      }
    }
  }))
  return { requests: done, errors, seconds: round((performance.now() - started) / 1000, 1), samples }
}

// ---------------------------------------------------------------- reports

const machine = async (env: Environment) => {
  const [rabbit] = await Promise.all([run("rabbitmqctl", ["version"]).then((r) => r.stdout.trim())])
  const [[versionRow]] = await env.db.query("SELECT VERSION() AS v") as unknown as [[{ v: string }]]
  return {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? "unknown",
    memory_gib: round(os.totalmem() / 1024 ** 3, 1),
    node: process.version,
    rabbitmq: rabbit,
    mariadb: versionRow.v
  }
}

const ratios = (points: ReadonlyArray<Point>) => {
  const pairs: Array<[string, string]> = [
    ["beds_mariadb_read", "raw_echo_call_read"],
    ["beds_mariadb_write", "raw_echo_call_write"],
    ["beds_mariadb_write_fast", "raw_echo_call_write"],
    ["beds_cached_read", "raw_echo"],
    ["http_mariadb_read", "raw_echo_call_read"]
  ]
  return pairs.flatMap(([beds, rawName]) =>
    CONCURRENCY.flatMap((c) => {
      const b = points.find((p) => p.scenario === beds && p.concurrency === c)
      const r = points.find((p) => p.scenario === rawName && p.concurrency === c)
      if (b === undefined || r === undefined) return []
      return [{
        beds,
        raw: rawName,
        concurrency: c,
        throughput_ratio: round(b.rps / r.rps),
        p99_ratio: round(b.p99_ms / Math.max(0.01, r.p99_ms)),
        node_cpu_us: b.cpu_us_per_req["node"]!,
        raw_worker_cpu_us: r.cpu_us_per_req["raw_worker"]!,
        cpu_ratio: round(b.cpu_us_per_req["node"]! / Math.max(1, r.cpu_us_per_req["raw_worker"]!))
      }]
    }))
}

/**
 * The gateway's CPU per request beside the node's, per concurrency, where the AMQP read and its HTTP
 * twin both ran. One process (workers = 1): the gateway is the HTTP scenario's node CPU minus the
 * AMQP one's. With workers: measured apart, the primary's CPU in the HTTP scenario (it runs the
 * gateway and no broker); the node is then its workers (the tree minus the primary).
 */
const gatewayShare = (points: ReadonlyArray<Point>) =>
  CONCURRENCY.flatMap((c) => {
    const amqp = points.find((p) => p.scenario === "beds_mariadb_read" && p.concurrency === c)
    const http = points.find((p) => p.scenario === "http_mariadb_read" && p.concurrency === c)
    if (amqp === undefined || http === undefined) return []
    const primary = http.cpu_us_per_req["primary"]
    const gateway = primary ?? http.cpu_us_per_req["node"]! - amqp.cpu_us_per_req["node"]!
    const nodeForHttp = http.cpu_us_per_req["node"]! - (primary ?? gateway)
    const amqpNode = amqp.cpu_us_per_req["node"]! - (amqp.cpu_us_per_req["primary"] ?? 0)
    return [{
      concurrency: c,
      amqp_node_cpu_us: amqpNode,
      http_node_cpu_us: nodeForHttp,
      gateway_cpu_us: gateway,
      measured: primary === undefined ? "difference" : "apart",
      gateway_per_amqp_node: round(gateway / Math.max(1, amqpNode))
    }]
  })

const markdown = (result: Awaited<ReturnType<typeof collect>>) => {
  const m = result.machine
  const lines = [
    `Run ${result.at} on ${m.cores} cores (${m.cpu}), ${m.memory_gib} GiB; Node ${m.node}, RabbitMQ ${m.rabbitmq}, MariaDB ${m.mariadb}; ` +
      (WORKERS === 1 ? "node.workers = 1 (one process)" : `node.workers = ${WORKERS} (node µs/req: the primary and its ${WORKERS} worker processes together)`) +
      `; ${QUORUM ? "quorum" : "classic"} broker queues.`,
    "",
    `| scenario | in flight | req/s | p50 ms | p95 ms | p99 ms | errors | node µs/req |${WORKERS > 1 ? " of it the primary |" : ""} raw worker µs/req | RabbitMQ µs/req | MariaDB µs/req | client µs/req | load |`,
    `| --- | --- | --- | --- | --- | --- | --- | --- |${WORKERS > 1 ? " --- |" : ""} --- | --- | --- | --- | --- |`,
    ...result.points.map((p) =>
      `| ${p.scenario} | ${p.concurrency} | ${p.rps} | ${p.p50_ms} | ${p.p95_ms} | ${p.p99_ms} | ${p.errors} | ${p.cpu_us_per_req["node"]} |${WORKERS > 1 ? ` ${p.cpu_us_per_req["primary"]} |` : ""} ${p.cpu_us_per_req["raw_worker"]} | ${p.cpu_us_per_req["rabbitmq"]} | ${p.cpu_us_per_req["mariadb"]} | ${p.cpu_us_per_req["bench_client"]} | ${p.load1} |`),
    "",
    "| BEDS | raw | in flight | throughput BEDS/raw | p99 BEDS/raw | node µs/req | raw worker µs/req | CPU BEDS/raw |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ...result.ratios.map((r) =>
      `| ${r.beds} | ${r.raw} | ${r.concurrency} | ${r.throughput_ratio} | ${r.p99_ratio} | ${r.node_cpu_us} | ${r.raw_worker_cpu_us} | ${r.cpu_ratio} |`),
    ...(result.gateway.length === 0 ? [] : [
      "",
      WORKERS === 1
        ? "Gateway: the HTTP read's node µs/req minus the AMQP read's (both in the node process)."
        : "Gateway: measured apart, the primary's µs/req in the HTTP read (it runs the gateway and no broker); node: its workers.",
      "",
      "| in flight | node µs/req, AMQP read | node µs/req, HTTP read | gateway µs/req | gateway / node (AMQP read) |",
      "| --- | --- | --- | --- | --- |",
      ...result.gateway.map((g) =>
        `| ${g.concurrency} | ${g.amqp_node_cpu_us} | ${g.measured === "apart" ? g.http_node_cpu_us : "(not apart)"} | ${g.gateway_cpu_us} | ${g.gateway_per_amqp_node} |`)
    ]),
    "",
    `Node memory${WORKERS === 1 ? "" : " (the last metrics line of one worker process)"}: RSS ${result.memory.before?.rss_mb} MB and heap ${result.memory.before?.heap_used_mb} MB before, ` +
      `RSS ${result.memory.after?.rss_mb} MB and heap ${result.memory.after?.heap_used_mb} MB after. Pools: ${result.memory.after?.pools}.`
  ]
  return lines.join("\n")
}

const collect = async (env: Environment) => {
  const before = env.metrics.at(-1)
  const points = await benchmark(env)
  await new Promise((resolve) => setTimeout(resolve, 1_200))
  return {
    at: new Date().toISOString(),
    machine: await machine(env),
    workers: WORKERS,
    queue_type: QUORUM ? "quorum" : "classic",
    loadavg: os.loadavg().map((n) => round(n)),
    points,
    ratios: ratios(points),
    gateway: gatewayShare(points),
    memory: { before, after: env.metrics.at(-1) }
  }
}

const main = async () => {
  const env = await setUp()
  try {
    await mkdir(path.join(root, "bench", "results"), { recursive: true })
    if (SOAK) {
      const result = { at: new Date().toISOString(), machine: await machine(env), soak: await soak(env) }
      const file = path.join(root, "bench", "results", `soak-${result.at.replace(/[:.]/g, "-")}.json`)
      await writeFile(file, JSON.stringify(result, null, 2))
      const first = result.soak.samples[0]
      const last = result.soak.samples.at(-1)
      console.log(`soak: ${result.soak.requests} requests in ${result.soak.seconds} s, ${result.soak.errors} errors; heap after 100k ${first?.heap_used_mb} MB, after 1M ${last?.heap_used_mb} MB; ${file}`)
      return
    }
    const result = await collect(env)
    const file = path.join(root, "bench", "results", `bench-${result.at.replace(/[:.]/g, "-")}.json`)
    await writeFile(file, JSON.stringify(result, null, 2))
    const table = markdown(result)
    console.log(`\n${table}\n\nresults: ${file}`)
    if (!QUICK && ONLY === undefined && option("concurrency") === undefined && WORKERS === 1 && !QUORUM) {
      const doc = path.join(root, "BENCHMARKS.md")
      const text = await readFile(doc, "utf8")
      const updated = text.replace(/<!-- latest:start -->[\s\S]*<!-- latest:end -->/, `<!-- latest:start -->\n${table}\n<!-- latest:end -->`)
      await writeFile(doc, updated)
      console.log("BENCHMARKS.md updated")
    }
  } finally {
    await tearDown(env)
  }
}

main().then(() => process.exit(0), (error) => {
  console.error("bench failed:", error)
  process.exit(1)
})
