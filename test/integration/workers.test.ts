// A node of two worker processes (node.workers = 2): both serve (the x-beds-worker reply header),
// the primary's /health/ready and /metrics speak for both, a worker SIGKILLed under load is replaced
// and every request is answered, and SIGTERM to the primary drains both and exits 0.
import amqp from "amqplib"
import { randomUUID } from "node:crypto"
import { afterEach, describe, expect, it } from "vitest"
import { addVhost, freePort, uniqueName } from "../../scripts/local-services.mjs"
import { serviceOverrides, startNode, writeConfigDir } from "../support/node-process.js"
import { testServices } from "../support/services.js"

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined)
})

interface ReadyBody {
  readonly ready: boolean
  readonly off: ReadonlyArray<string>
  readonly checks: { readonly workers?: ReadonlyArray<{ readonly worker: number; readonly pid: number | null; readonly ready: boolean; readonly restarts: number }> }
}

const readiness = async (port: number) => {
  const response = await fetch(`http://127.0.0.1:${port}/health/ready`)
  return { status: response.status, body: (await response.json()) as ReadyBody }
}

/** Polls until `check` holds (bounded); the last value is in the error. */
const eventually = async <A>(probe: () => Promise<A>, check: (value: A) => boolean, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  let last: A | undefined
  while (Date.now() < deadline) {
    last = await probe().catch(() => undefined)
    if (last !== undefined && check(last)) return last
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`not within ${timeoutMs} ms; last: ${JSON.stringify(last)}`)
}

describe("node.workers = 2", () => {
  it("serves from both workers, replaces a worker SIGKILLed under load with every request answered, drains both on SIGTERM", async () => {
    const vhost = uniqueName("beds_t")
    cleanups.push(await addVhost(vhost))
    const httpPort = await freePort()
    const overrides = serviceOverrides(testServices(), "workers1")
    const configDir = await writeConfigDir({
      "env_dev.toml": {
        ...overrides,
        node: { ...overrides.node, workers: 2 },
        rabbitmq: { ...overrides.rabbitmq, vhost },
        observability: { http_port: httpPort, http_host: "127.0.0.1" },
        brokers: { rBroker: { instances: 2, prefetch: 8 }, wBroker: { instances: 1, prefetch: 4 } }
      }
    })
    const node = startNode([], { BEDS_CONFIG_DIR: configDir })
    cleanups.push(async () => node.child.kill("SIGKILL"))
    await node.waitForOutput(/node up; 2 workers serving; SIGINT or SIGTERM stops it/, 45_000)

    const first = await readiness(httpPort)
    expect(first.status, JSON.stringify(first.body)).toBe(200)
    const pids = first.body.checks.workers?.map((worker) => worker.pid)
    expect(pids).toHaveLength(2)
    expect(pids?.every((pid) => typeof pid === "number" && pid !== node.child.pid)).toBe(true)

    // A plain AMQP client: every reply is counted per correlationId, with the worker that sent it.
    const connection = await amqp.connect({ hostname: "127.0.0.1", username: "guest", password: "guest", vhost })
    cleanups.push(() => connection.close())
    const channel = await connection.createChannel()
    const replies = new Map<string, Array<string>>()
    const waiting = new Map<string, () => void>()
    await channel.consume("amq.rabbitmq.reply-to", (message) => {
      if (message === null) return
      const id = message.properties.correlationId as string
      replies.set(id, [...(replies.get(id) ?? []), String(message.properties.headers?.["x-beds-worker"])])
      waiting.get(id)?.()
    }, { noAck: true })
    const request = (timeoutMs: number) => {
      const id = randomUUID()
      const body = { version: 1, template: "customers", op: "fetch", query: { id: 1 }, lineage: { eventId: `test.dev.${randomUUID()}`, parentId: "", depth: 0 } }
      return new Promise<string>((resolve) => {
        const timer = setTimeout(() => resolve(id), timeoutMs)
        waiting.set(id, () => {
          clearTimeout(timer)
          waiting.delete(id)
          resolve(id)
        })
        channel.publish("beds.events", "read.customers.fetch", Buffer.from(JSON.stringify(body)), {
          correlationId: id,
          replyTo: "amq.rabbitmq.reply-to",
          contentType: "application/json"
        })
      })
    }
    const load = async (count: number, inFlight: number, during?: (sent: number) => void) => {
      const ids: Array<string> = []
      let sent = 0
      await Promise.all(Array.from({ length: inFlight }, async () => {
        while (sent < count) {
          sent++
          during?.(sent)
          ids.push(await request(15_000))
        }
      }))
      return ids
    }

    const before = await load(200, 16)
    const workersSeen = new Set(before.flatMap((id) => replies.get(id) ?? []))
    expect([...workersSeen].sort()).toEqual(["1", "2"])

    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
    expect(metrics).toMatch(/^beds_requests_total\{beds_worker="1",/m)
    expect(metrics).toMatch(/^beds_requests_total\{beds_worker="2",/m)
    expect(metrics).toMatch(/^beds_workers(\{[^}]*\})? 2/m)
    expect(metrics.match(/^# TYPE beds_requests_total /gm)).toHaveLength(1)

    // Worker 1 SIGKILLed once 100 requests of the next 600 are out; the load goes on.
    const victim = pids![0]!
    const during = await load(600, 16, (sent) => {
      if (sent === 100) process.kill(victim, "SIGKILL")
    })
    await node.waitForOutput(/worker 1 \(pid \d+\) died: killed by SIGKILL; replacing it/, 10_000)
    const after = await eventually(() => readiness(httpPort), (r) => r.status === 200 && r.body.checks.workers?.[0]?.pid !== victim, 30_000)
    expect(after.body.checks.workers?.map((worker) => worker.restarts)).toEqual([1, 0])
    const unanswered = during.filter((id) => !replies.has(id))
    expect(unanswered, "requests never answered").toEqual([])
    expect(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()).toMatch(/^beds_worker_restarts_total\{beds_worker="1"[^}]*\} 1/m)

    // SIGTERM to the primary: both workers drain, then it exits 0.
    node.child.kill("SIGTERM")
    expect(await node.exited(30_000)).toBe(0)
    expect(node.stdout()).toMatch(/shutdown: draining 2 worker processes/)
    expect(node.stdout().match(/shutdown: drain asked by the primary; draining in-flight messages/g)).toHaveLength(2)
    expect(node.stdout()).toMatch(/shutdown: every worker process has exited/)
    for (const pid of [...pids!, after.body.checks.workers![0]!.pid]) if (pid !== null && pid !== undefined) expect(() => process.kill(pid, 0)).toThrow()
  }, 120_000)
})
