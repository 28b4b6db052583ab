import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { resourceFromAttributes } from "@opentelemetry/resources"
import { BasicTracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import amqp from "amqplib"
import { execFile } from "node:child_process"
import { randomBytes, randomUUID } from "node:crypto"
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { promisify } from "node:util"
import mysql from "mysql2/promise"
import { getMetricsFromIterator, type PromData, type PromHistogramData, type PromMetrics } from "prom2javascript"
import { afterEach, describe, expect, it } from "vitest"
import { addDatabase, addVhost, freePort, uniqueName } from "../../scripts/local-services.mjs"
import { connectBedsClient } from "../../src/client/promise.js"
import { closeConnectionsNamed } from "../../scripts/rabbit-admin.mjs"
import { notesSchema, notesTemplate } from "../support/notes-domain.js"
import { repoRoot, serviceOverrides, startNode, writeConfigDir } from "../support/node-process.js"
import { startOtlpReceiver } from "../support/otlp.js"
import { setVhostAccess } from "../support/rabbit-permissions.js"
import { testServices } from "../support/services.js"

const run = promisify(execFile)
const services = testServices()
const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined)
})

/** A vhost, a database with BEDS's objects and the notes domain, and a config directory naming them. */
const scratchNode = async (nodeId: string, extra: Record<string, unknown>) => {
  const vhost = uniqueName("beds_t")
  cleanups.push(await addVhost(vhost))
  const database = uniqueName("beds_t_obs")
  cleanups.push(await addDatabase(database))
  const root = await mkdtemp(path.join(tmpdir(), "beds-obs-"))
  cleanups.push(() => rm(root, { recursive: true, force: true }))
  await mkdir(path.join(root, "templates"))
  await mkdir(path.join(root, "schema", "mariadb"), { recursive: true })
  await writeFile(path.join(root, "schema", "mariadb", "notes.sql"), notesSchema)
  const overrides = serviceOverrides(services, nodeId)
  const configDir = await writeConfigDir({
    "env_dev.toml": {
      ...overrides,
      rabbitmq: { ...overrides.rabbitmq, vhost },
      mariadb: { master: { ...overrides.mariadb.master, database } },
      templates: { directory: path.join(root, "templates"), schema_directory: path.join(root, "schema") },
      ...extra
    }
  })
  const env = { PATH: process.env["PATH"] ?? "", BEDS_CONFIG_DIR: configDir, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" }
  return { vhost, database, root, configDir, env }
}
const applySchema = (env: Record<string, string>) => run(process.execPath, [path.join(repoRoot, "dist", "schema-apply.js")], { env })

const get = (url: string) => fetch(url, { signal: AbortSignal.timeout(5_000) }).then(async (response) => ({ status: response.status, body: await response.text() }))

/** Polls until `check` holds (bounded); its last value. */
const poll = async <A>(attempt: () => Promise<A>, check: (a: A) => boolean, timeoutMs = 20_000): Promise<A> => {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = await attempt().catch(() => undefined as A)
    if (value !== undefined && check(value)) return value
    if (Date.now() > until) throw new Error(`not within ${timeoutMs} ms; last: ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A node on `scratch` with the notes template and its schema, stopped with the test; `env` adds to its environment. */
const startScratchNode = async (scratch: Awaited<ReturnType<typeof scratchNode>>, template: string, env: Record<string, string> = {}) => {
  await writeFile(path.join(scratch.root, "templates", "notes.toml"), template)
  await applySchema(scratch.env)
  const node = startNode([], { BEDS_CONFIG_DIR: scratch.configDir, ...env })
  cleanups.push(async () => {
    node.child.kill("SIGTERM")
    await node.exited(10_000)
  })
  await node.waitForOutput(/node up; SIGINT or SIGTERM stops it/, 30_000)
  return node
}

/**
 * A node tracing every request to an OTLP receiver of the test's own, in batches flushed every
 * 100 ms (the SDK's OTEL_BSP_SCHEDULE_DELAY); `extra` tables go in its config.
 */
const startTracedNode = async (nodeId: string, template: string, extra: Record<string, unknown> = {}) => {
  const receiver = await startOtlpReceiver()
  cleanups.push(receiver.close)
  const scratch = await scratchNode(nodeId, { tracing: { enabled: true, endpoint: "http://127.0.0.1:1/unused", sample_ratio: 1 }, ...extra })
  const node = await startScratchNode(scratch, template, { BEDS_TRACING__ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: "100" })
  return { receiver, scratch, node }
}

describe("observability", () => {
  it("one request, one trace across the client's and the node's processes: publish -> consume -> dispatch -> database call and audit event; the reply", async () => {
    const { node, receiver, scratch } = await startTracedNode("trace1", `${notesTemplate}\n[capabilities]\naudit = true\n`)

    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ "service.name": "beds-test-client" }),
      spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: receiver.endpoint }))]
    })
    cleanups.push(() => provider.shutdown())
    const client = await connectBedsClient({ vhost: scratch.vhost, username: "guest", password: "guest", clientId: "tracetest", tracer: provider.getTracer("test") })
    cleanups.push(() => client.close())
    // First an unsampled request (traceparent flags 00), by a plain AMQP client: the node makes no
    // span for it, and its reply echoes the request's traceparent (docs/protocol.md: Reply).
    const unsampled = `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-00`
    const connection = await amqp.connect({ hostname: "127.0.0.1", username: "guest", password: "guest", vhost: scratch.vhost })
    cleanups.push(() => connection.close())
    const channel = await connection.createChannel()
    const echoed = new Promise<unknown>((resolve) =>
      void channel.consume("amq.rabbitmq.reply-to", (message) => resolve(message?.properties.headers?.["traceparent"]), { noAck: true }))
    const envelope = { version: 1, template: "notes", op: "fetch", query: { id: 1 }, lineage: { eventId: `tracetest.dev.${randomUUID()}`, parentId: "", depth: 0 } }
    channel.publish("beds.events", "read.notes.fetch", Buffer.from(JSON.stringify(envelope)), {
      correlationId: randomUUID(),
      replyTo: "amq.rabbitmq.reply-to",
      contentType: "application/json",
      headers: { traceparent: unsampled }
    })
    expect(await echoed).toBe(unsampled)

    const reply = await client.request({ template: "notes", op: "create", data: { body: "traced" } })
    expect(reply).toMatchObject({ status: "ok", data: { body: "traced" } })

    const expected = ["send write.notes.create", "process write.notes.create", "dispatch notes.create", "create nte_create", "publish audit.notes.create", "publish reply"]
    const spans = await poll(async () => {
      const root = receiver.spans.find((span) => span.name === "send write.notes.create")
      return root === undefined ? [] : receiver.spans.filter((span) => span.traceId === root.traceId)
    }, (found) => expected.every((name) => found.some((span) => span.name === name)))
    const named = (name: string) => spans.find((span) => span.name === name)!
    const [send, consume, dispatch, call, audit, publishReply] = expected.map(named)
    // One trace, two processes, each span under the one before it.
    expect(send!.service).toBe("beds-test-client")
    expect(send!.parentSpanId).toBe("")
    for (const span of [consume, dispatch, call, audit, publishReply]) expect(span!.service).toBe("beds")
    expect(consume!.parentSpanId).toBe(send!.spanId)
    expect(dispatch!.parentSpanId).toBe(consume!.spanId)
    expect(call!.parentSpanId).toBe(dispatch!.spanId)
    expect(audit!.parentSpanId).toBe(dispatch!.spanId)
    expect(publishReply!.parentSpanId).toBe(consume!.spanId)
    // Attributes by the messaging and database conventions; bound values never appear.
    expect(consume!.attributes).toMatchObject({ "messaging.system": "rabbitmq", "messaging.operation.type": "process", "messaging.rabbitmq.destination.routing_key": "write.notes.create" })
    expect(call!.attributes).toMatchObject({ "db.system.name": "mariadb", "db.collection.name": "nte_create", "db.operation.name": "create" })
    expect(JSON.stringify(spans)).not.toContain("traced")
    // The unsampled request ended before the traced one began, and spans are exported in the order they end.
    expect(receiver.spans.filter((span) => span.traceId === unsampled.slice(3, 35))).toStrictEqual([])
    if (process.env["BEDS_PRINT_TRACE"] === "1") {
      const t0 = BigInt(send!.start)
      const depth = (span: (typeof spans)[number]): number => {
        const parent = spans.find((other) => other.spanId === span.parentSpanId)
        return parent === undefined ? 0 : depth(parent) + 1
      }
      for (const span of [...spans].sort((a, b) => (BigInt(a.start) < BigInt(b.start) ? -1 : 1))) {
        const from = Number(BigInt(span.start) - t0) / 1e6
        const to = Number(BigInt(span.end) - t0) / 1e6
        console.log(`${"  ".repeat(depth(span))}${span.name} [${span.service}] ${from.toFixed(2)}-${to.toFixed(2)} ms`)
      }
    }
    // The node's log lines of that request carry its trace id (the audit event's publish is logged in its span only on failure).
    expect(node.stdout()).not.toMatch(/ERROR/)
  }, 90_000)

  it("a request through the HTTP gateway: the gateway's send span continues the caller's traceparent, and the node's spans follow under it", async () => {
    const port = await freePort()
    const apiKey = randomBytes(18).toString("base64url")
    const { receiver } = await startTracedNode("tracegw", notesTemplate, { gateway: { enabled: true, port, api_keys: { tracer: { secret: apiKey } } } })

    const [traceId, callerSpan] = [randomBytes(16).toString("hex"), randomBytes(8).toString("hex")]
    const response = await fetch(`http://127.0.0.1:${port}/v1/notes/create`, {
      method: "POST",
      headers: { "x-api-key": apiKey, "content-type": "application/json", traceparent: `00-${traceId}-${callerSpan}-01` },
      body: JSON.stringify({ body: "through the gateway" })
    })
    expect(response.status, await response.clone().text()).toBe(201)

    const spans = await poll(async () => receiver.spans.filter((span) => span.traceId === traceId),
      (found) => ["send write.notes.create", "process write.notes.create", "dispatch notes.create"].every((name) => found.some((span) => span.name === name)))
    const named = (name: string) => spans.find((span) => span.name === name)!
    expect(named("send write.notes.create")).toMatchObject({ service: "beds", parentSpanId: callerSpan })
    expect(named("process write.notes.create").parentSpanId).toBe(named("send write.notes.create").spanId)
    expect(named("dispatch notes.create").parentSpanId).toBe(named("process write.notes.create").spanId)
  }, 90_000)

  it("/metrics after known traffic: so many ok, so many of each error code, one dead letter, one broker restart (parsed as Prometheus text)", async () => {
    const port = await freePort()
    const scratch = await scratchNode("metrics1", { observability: { http_port: port, http_host: "127.0.0.1" }, brokers: { wBroker: { instances: 1, prefetch: 4 } } })
    await startScratchNode(scratch, notesTemplate)
    const client = await connectBedsClient({ vhost: scratch.vhost, username: "guest", password: "guest", clientId: "metricstest" })
    cleanups.push(() => client.close())

    for (let i = 0; i < 4; i++) expect((await client.request({ template: "notes", op: "create", data: { body: `n${i}` } })).status).toBe("ok")
    for (let i = 0; i < 2; i++) {
      const missing = await client.request({ template: "notes", op: "fetch", query: { id: 999_999_999 } })
      expect(missing.status === "error" && missing.error.code).toBe("not_found")
    }
    const invalid = await client.request({ template: "notes", op: "create", data: {} })
    expect(invalid.status === "error" && invalid.error.code).toBe("validation")
    // A deployment defect: the DBA's procedure is gone after the IPL checked it.
    const { host, password, port: mariaPort, username: user } = services.mariadb
    const db = await mysql.createConnection({ host, port: mariaPort, user, password, database: scratch.database })
    await db.query("DROP PROCEDURE nte_create")
    await db.end()
    const broken = await client.request({ template: "notes", op: "create", data: { body: "x" } })
    expect(broken.status === "error" && broken.error.code).toBe("internal")

    const scrape = async () => getMetricsFromIterator((await get(`http://127.0.0.1:${port}/metrics`)).body.split("\n")[Symbol.iterator]())
    const samples = (metrics: PromMetrics, name: string, labels: Record<string, string>) =>
      ((metrics[name]?.data ?? []) as ReadonlyArray<PromData | PromHistogramData>)
        .filter((sample) => Object.entries(labels).every(([k, v]) => sample.labels[k] === v))
    const sum = (metrics: PromMetrics, name: string, labels: Record<string, string>) =>
      samples(metrics, name, labels).reduce((n, sample) => n + ("value" in sample ? sample.value : sample.count), 0)
    const metrics = await poll(scrape, (found) =>
      sum(found, "beds_pool_restarts_total", { beds_pool: "wBroker" }) === 1 && sum(found, "beds_pool_consuming", { beds_pool: "wBroker" }) === 1)
    const requests = (operation: string, errorType: string) =>
      sum(metrics, "beds_requests_total", { beds_template: "notes", beds_operation: operation, error_type: errorType })
    expect(requests("create", "")).toBe(4)
    expect(requests("fetch", "not_found")).toBe(2)
    expect(requests("create", "validation")).toBe(1)
    expect(requests("create", "internal")).toBe(1)
    expect(sum(metrics, "beds_dead_letters_total", {})).toBe(1)
    expect(sum(metrics, "beds_dead_letters_total", { beds_pool: "wBroker", error_type: "internal" })).toBe(1)
    expect(sum(metrics, "beds_pool_restarts_total", {})).toBe(1)
    // Histograms in seconds (the OpenTelemetry unit rides as the `unit` label).
    expect(metrics["messaging_process_duration"]?.type).toBe("histogram")
    expect(sum(metrics, "messaging_process_duration", { beds_template: "notes", unit: "s" })).toBe(8)
    expect(samples(metrics, "db_client_operation_duration", { db_system_name: "mariadb", db_collection_name: "nte_view", db_operation_name: "fetch" })).toHaveLength(1)
  }, 90_000)

  it("/health/ready: false until the pools consume, true after, false while RabbitMQ refuses the node, true again after it reconnects", async () => {
    const port = await freePort()
    const scratch = await scratchNode("ready1", { observability: { http_port: port, http_host: "127.0.0.1" } })
    await writeFile(path.join(scratch.root, "templates", "notes.toml"), notesTemplate)
    await applySchema(scratch.env)
    const ready = () => get(`http://127.0.0.1:${port}/health/ready`).then((response) => ({ ...response, json: JSON.parse(response.body) as { ready: boolean; off: Array<string> } }))

    // RabbitMQ refuses the node at first: it boots, answers live, and is not ready.
    await setVhostAccess(scratch.vhost, "guest", false)
    const node = startNode([], { BEDS_CONFIG_DIR: scratch.configDir })
    cleanups.push(async () => {
      node.child.kill("SIGTERM")
      await node.exited(10_000)
    })
    await node.waitForOutput(/node not serving yet: waiting for RabbitMQ/, 30_000)
    expect((await get(`http://127.0.0.1:${port}/health/live`)).status).toBe(200)
    const before = await ready()
    expect(before.status).toBe(503)
    expect(before.json.off).toContain("rabbitmq: not connected")

    await setVhostAccess(scratch.vhost, "guest", true)
    await node.waitForOutput(/node up DEGRADED; SIGINT or SIGTERM stops it/, 30_000)
    expect(await poll(ready, (response) => response.status === 200)).toMatchObject({ json: { ready: true, off: [] } })

    // Refused again and the connection closed: not ready until it is back.
    await setVhostAccess(scratch.vhost, "guest", false)
    await closeConnectionsNamed(scratch.vhost, "beds ready1 appServer")
    const down = await poll(ready, (response) => response.status === 503)
    expect(down.json.off).toContain("rabbitmq: not connected")
    await setVhostAccess(scratch.vhost, "guest", true)
    expect(await poll(ready, (response) => response.status === 200)).toMatchObject({ json: { ready: true } })

    // Draining: not ready from the signal on.
    node.child.kill("SIGTERM")
    expect(await node.exited(15_000)).toBe(0)
  }, 90_000)
})
