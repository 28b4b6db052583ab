import { NodeContext } from "@effect/platform-node"
import amqp from "amqplib"
import { Effect, Redacted } from "effect"
import { randomBytes, randomUUID } from "node:crypto"
import { copyFile, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { addDatabase, addVhost, uniqueName } from "../../scripts/local-services.mjs"
import { connectBedsClient, type BedsClientPromise, type Reply } from "../../src/client/promise.js"
import { applyMariaDbSchema } from "../../src/schema/mariadb.js"
import { makeDevConfigDir, repoRoot, serviceOverrides, startNode, type NodeProcess } from "../support/node-process.js"
import { testServices } from "../support/services.js"
import { DIRECT_REPLY_TO, EVENTS_EXCHANGE } from "../../src/protocol/routing.js"
import { promiseSigning, replyPrefix, signedHeaders, trustTable } from "../support/trust.js"

// Async tickets against real nodes (`node dist/main.js`), RabbitMQ and MariaDB: a database, a vhost
// and a notice queue of this file's own. Leases are short here (2 s) so a killed node's job is
// taken over soon; nothing below measures time, every wait is bounded.

const services = testServices()
const fixtures = path.join(repoRoot, "test", "fixtures", "tickets")
const cleanups: Array<() => Promise<unknown>> = []
let configDir = ""
let vhost = ""
let client: BedsClientPromise
let node: NodeProcess

const freshId = () => `job${randomBytes(6).toString("hex")}`
const dataOf = (reply: Reply) => (reply.status === "ok" ? reply.data : reply) as Record<string, unknown>
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const startServing = async () => {
  const started = startNode([], { BEDS_CONFIG_DIR: configDir })
  cleanups.push(async () => {
    started.child.kill("SIGTERM")
    await started.exited(10_000)
  })
  await started.waitForOutput(/node up; SIGINT or SIGTERM stops it/, 60_000)
  return started
}

const poll = (ticketId: string, caller?: { id: string; roles: Array<string> }) =>
  client.request({ template: "tickets", op: "fetch", query: { ticket_id: ticketId }, ...(caller === undefined ? {} : { caller }) })

/** Polls until the ticket's status is one of `statuses`; fails after `timeoutMs` (a bound, not a measurement). */
const pollUntil = async (ticketId: string, statuses: ReadonlyArray<string>, timeoutMs: number) => {
  const until = Date.now() + timeoutMs
  let last: Reply | undefined
  while (Date.now() < until) {
    last = await poll(ticketId)
    if (last.status === "ok" && statuses.includes(String(dataOf(last)["status"]))) return dataOf(last)
    await sleep(200)
  }
  throw new Error(`ticket ${ticketId} not ${statuses.join("/")} within ${timeoutMs} ms; last: ${JSON.stringify(last)}`)
}

beforeAll(async () => {
  vhost = uniqueName("beds_t")
  cleanups.push(await addVhost(vhost))
  const database = uniqueName("beds_t14")
  cleanups.push(await addDatabase(database))
  const endpoint = { ...services.mariadb, database, password: Redacted.make(services.mariadb.password) }
  await Effect.runPromise(applyMariaDbSchema(endpoint, [path.join(repoRoot, "schema", "beds", "mariadb"), path.join(fixtures, "schema", "mariadb")]).pipe(
    Effect.provide(NodeContext.layer)
  ))
  // The shipped tickets template beside the fixture domain.
  const templates = await mkdtemp(path.join(tmpdir(), "beds-tickets-"))
  cleanups.push(() => rm(templates, { recursive: true, force: true }))
  await copyFile(path.join(repoRoot, "templates", "tickets.toml"), path.join(templates, "tickets.toml"))
  await copyFile(path.join(fixtures, "templates", "jobs.toml"), path.join(templates, "jobs.toml"))
  const overrides = serviceOverrides(services, "tickets1")
  const config = await makeDevConfigDir({
      ...overrides,
      rabbitmq: { ...overrides.rabbitmq, vhost },
      mariadb: { master: { ...overrides.mariadb.master, database } },
      templates: { directory: templates, schema_directory: path.join(fixtures, "schema") },
      trust: trustTable,
      tickets: { lease_s: 2, claim_interval_s: 1, max_attempts: 3 },
      brokers: { rBroker: { instances: 1 }, wBroker: { instances: 1 } }
  })
  cleanups.push(config.remove)
  configDir = config.directory
  node = await startServing()
  client = await connectBedsClient({ vhost, username: "guest", password: "guest", clientId: "tickets", signing: promiseSigning, timeoutMs: 15_000 })
  cleanups.push(() => client.close())
}, 120_000)

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined)
}, 60_000)

describe("async tickets (CALGON) on a node process", () => {
  it("submit -> a ticket at once -> poll until done -> the result; unknown ids, other callers and wrong routes", async () => {
    const id = freshId()
    expect(await client.request({ template: "jobs", op: "create", data: { id, title: "report" } })).toMatchObject({ status: "ok" })

    // A long-running operation on its usual route is refused; on route job it is a ticket.
    const refused = await client.request({ template: "jobs", op: "slow_add", route: "write", data: { id, seconds: 0 } })
    expect(refused).toMatchObject({ status: "error", error: { code: "validation", message: "jobs.slow_add is long-running: send it on route job" } })

    const caller = { id: "alice", roles: [] }
    const submitted = await client.request({ template: "jobs", op: "slow_add", route: "job", data: { id, seconds: 0.5 }, caller })
    expect(submitted.status).toBe("ok")
    const ticket = dataOf(submitted)
    expect(ticket).toMatchObject({ status: "pending", template: "jobs", op: "slow_add", result: null, error: null })
    // The ticket is the request's child in the lineage tree.
    expect(ticket["lineage"]).toMatchObject({ eventId: ticket["ticket_id"], parentId: submitted.lineage!.eventId, depth: 1 })

    const ticketId = String(ticket["ticket_id"])
    const until = Date.now() + 30_000
    let done: Record<string, unknown> = {}
    while (Date.now() < until) {
      done = dataOf(await poll(ticketId, caller))
      if (done["status"] === "done" || done["status"] === "failed") break
      expect(["pending", "running"]).toContain(done["status"])
      await sleep(200)
    }
    expect(done).toMatchObject({ ticket_id: ticketId, status: "done", attempts: 1, error: null, result: [{ id, title: "report", runs: 1 }] })
    // The job's log lines are the ticket's: its id, and the request as parent one level up.
    await node.waitForOutput(new RegExp(`job done.*ticket=${ticketId.replace(/\./g, "\\.")}`), 10_000)
    const jobLine = node.stdout().split("\n").find((line) => line.includes("job done") && line.includes(`ticket=${ticketId}`))
    expect(jobLine).toContain(`parentId=${submitted.lineage!.eventId}`)
    expect(jobLine).toContain("depth=1")

    // Another caller, and an id nobody issued: unknown, never pending.
    expect(dataOf(await poll(ticketId, { id: "bob", roles: [] }))).toMatchObject({ ticket_id: ticketId, status: "unknown", result: null })
    const nobody = `tickets1.dev.${randomUUID()}`
    expect(dataOf(await poll(nobody))).toStrictEqual({
      ticket_id: nobody, status: "unknown", template: null, op: null, attempts: null, result: null, error: null,
      created_at: null, started_at: null, ended_at: null, expires_at: null, lineage: null
    })
    expect(await poll("not a ticket id")).toMatchObject({ status: "error", error: { code: "validation" } })

    // Route job takes only tickets; "ticket": true elsewhere is refused.
    expect(await client.request({ template: "jobs", op: "create", route: "job", data: { id: freshId() } })).toMatchObject({
      status: "error", error: { code: "validation" }
    })
    expect(await client.request({ template: "jobs", op: "create", route: "write", ticket: true, data: { id: freshId() } })).toMatchObject({
      status: "error", error: { code: "validation", message: "jobs.create asks for a ticket: send it on route job" }
    })
  }, 60_000)

  it("asked for: any operation as a ticket; the completion notice comes to a queue within the producer's reply_prefix", async () => {
    const connection = await amqp.connect({ hostname: "127.0.0.1", port: 5672, username: "guest", password: "guest", vhost })
    cleanups.push(() => connection.close())
    const channel = await connection.createChannel()
    const queue = `${replyPrefix}tickets.${randomBytes(4).toString("hex")}`
    await channel.assertQueue(queue, { durable: false, autoDelete: false })

    const id = freshId()
    const submitted = await client.request({ template: "jobs", op: "create", ticket: true, notify: queue, data: { id, title: "noticed" } })
    const ticketId = String(dataOf(submitted)["ticket_id"])
    expect(dataOf(submitted)).toMatchObject({ status: "pending" })

    const until = Date.now() + 30_000
    let notice: amqp.GetMessage | false = false
    while (notice === false && Date.now() < until) {
      notice = await channel.get(queue, { noAck: true })
      if (notice === false) await sleep(200)
    }
    expect(notice).not.toBe(false)
    const message = notice as amqp.GetMessage
    expect(message.properties.correlationId).toBe(ticketId)
    expect(message.properties.headers?.["x-beds-ticket"]).toBe(ticketId)
    expect(JSON.parse(message.content.toString())).toMatchObject({
      version: 1,
      status: "ok",
      data: { ticket_id: ticketId, status: "done", result: { id, title: "noticed", runs: 0 } },
      lineage: { eventId: ticketId, parentId: submitted.lineage!.eventId, depth: 1 }
    })
    // Exactly one notice.
    expect(await channel.get(queue, { noAck: true })).toBe(false)

    // The same submission delivered twice (one envelope, two publishes): one ticket, one job.
    const again = Buffer.from(JSON.stringify({
      version: 1,
      template: "jobs",
      op: "create",
      ticket: true,
      data: { id: freshId(), title: "twice" },
      lineage: { eventId: `tickets.dev.${randomUUID()}`, parentId: "", depth: 0 }
    }))
    const replies: Array<Reply> = []
    await channel.consume(DIRECT_REPLY_TO, (delivered) => {
      if (delivered !== null) replies.push(JSON.parse(delivered.content.toString()) as Reply)
    }, { noAck: true })
    for (const copy of ["copy-1", "copy-2"]) {
      channel.publish(EVENTS_EXCHANGE, "job.jobs.create", again, {
        correlationId: copy, replyTo: DIRECT_REPLY_TO, contentType: "application/json", persistent: true,
        headers: signedHeaders("job.jobs.create", copy, DIRECT_REPLY_TO, again)
      })
    }
    const repliedBy = Date.now() + 30_000
    while (replies.length < 2 && Date.now() < repliedBy) await sleep(100)
    expect(replies).toHaveLength(2)
    expect(new Set(replies.map((reply) => dataOf(reply)["ticket_id"])).size).toBe(1)

    // What the node logs about a request (here its dead letter) is the request's child event.
    const mismatched = `tickets.dev.${randomUUID()}`
    channel.publish(EVENTS_EXCHANGE, "job.jobs.fetch", Buffer.from(JSON.stringify({
      version: 1, template: "jobs", op: "create", ticket: true, data: { id: freshId() },
      lineage: { eventId: mismatched, parentId: "", depth: 0 }
    })), { correlationId: "mismatch", replyTo: DIRECT_REPLY_TO, contentType: "application/json", persistent: true })
    const escaped = mismatched.replace(/\./g, "\\.")
    await node.waitForOutput(new RegExp(`^(?=.*dead-lettered: bad_envelope)(?=.*parentId=${escaped}\\b)(?=.*depth=1\\b)`, "m"), 30_000)

    // A queue outside the producer's reply_prefix: forbidden, and nothing ran.
    const outside = await client.request({ template: "jobs", op: "create", ticket: true, notify: "elsewhere", data: { id: freshId() } })
    expect(outside).toMatchObject({ status: "error", error: { code: "forbidden" } })
  }, 60_000)

  it("the node SIGKILLed while a mutating job runs, restarted: the job is taken over and its effect happens once", async () => {
    const id = freshId()
    expect(await client.request({ template: "jobs", op: "create", data: { id } })).toMatchObject({ status: "ok" })
    const submitted = await client.request({ template: "jobs", op: "slow_add", route: "job", data: { id, seconds: 4 } })
    const ticketId = String(dataOf(submitted)["ticket_id"])
    expect(await pollUntil(ticketId, ["running"], 30_000)).toMatchObject({ attempts: 1 })

    node.child.kill("SIGKILL")
    expect(await node.exited(10_000)).toBe("SIGKILL")
    node = await startServing()

    const ended = await pollUntil(ticketId, ["done", "failed"], 60_000)
    expect(ended).toMatchObject({ status: "done", error: null, result: [{ id, runs: 1 }] })
    expect(Number(ended["attempts"])).toBeGreaterThanOrEqual(2)
    // The effect happened once: one run's +1, not two.
    expect(dataOf(await client.request({ template: "jobs", op: "fetch", query: { id } }))).toMatchObject({ id, runs: 1 })
  }, 120_000)
})
