import amqp from "amqplib"
import { afterEach, describe, expect, it } from "vitest"
import { addVhost, uniqueName } from "../../scripts/local-services.mjs"
import { connectBedsClient } from "../../src/client/promise.js"
import { brokerQueues } from "../../src/transport/topology.js"
import { serviceOverrides, startNode, writeConfigDir } from "../support/node-process.js"
import { testServices } from "../support/services.js"

const cleanups: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined)
})

describe("node dist/main.js under load", () => {
  it("SIGTERM under load: the node exits 0 and every request was either answered or is still in its queue", async () => {
    const vhost = uniqueName("beds_t")
    cleanups.push(await addVhost(vhost))

    const overrides = serviceOverrides(testServices(), "load1")
    const configDir = await writeConfigDir({
      "env_dev.toml": { ...overrides, rabbitmq: { ...overrides.rabbitmq, vhost }, brokers: { wBroker: { instances: 2, prefetch: 16 } } }
    })
    const node = startNode([], { BEDS_CONFIG_DIR: configDir })
    cleanups.push(async () => node.child.kill("SIGKILL"))
    // Up means serving: every queue bound and consumed, so nothing is sent into the void.
    await node.waitForOutput(/node up; SIGINT or SIGTERM stops it/, 30_000)

    const client = await connectBedsClient({ vhost, username: "guest", password: "guest", clientId: "loadtest", timeoutMs: 4_000 })
    cleanups.push(() => client.close())
    // Load until 300 answers, SIGTERM, and on until the node has exited: each caller's last request
    // goes out after the exit, so some requests surely arrive after the node stopped consuming (a
    // fixed count after the signal raced the drain on a busy machine: all were answered).
    let answered = 0
    let sent = 0
    let exitCode: Promise<number | string> | undefined
    let hasExited = false
    const outcomes = await Promise.all(Array.from({ length: 64 }, async () => {
      const mine: Array<"answered" | "unanswered"> = []
      let last = false
      while (!last) {
        last = hasExited
        sent++
        // Only the request is guarded: an assertion on its reply must fail the test, not count as unanswered.
        const reply = await client.request({ template: "orders", op: "create", data: { n: sent } }).catch((error: { _tag?: string }) => {
          expect(error._tag).toBe("ClientTimeout")
          return undefined
        })
        if (reply === undefined) {
          mine.push("unanswered")
          continue
        }
        // No templates are loaded, so the answer is not_found: an answer all the same.
        expect(reply.status === "error" && reply.error.code).toBe("not_found")
        answered++
        mine.push("answered")
        if (answered === 300 && exitCode === undefined) {
          exitCode = node.exited(30_000)
          void exitCode.then(() => void (hasExited = true))
          node.child.kill("SIGTERM")
        }
      }
      return mine
    }))

    expect(await exitCode).toBe(0)
    expect(node.stdout()).toMatch(/shutdown: signal received; draining/)
    expect(node.stdout()).toMatch(/shutdown: done, exiting/)
    const results = outcomes.flat()
    expect(results).toHaveLength(sent)
    const answeredCount = results.filter((r) => r === "answered").length
    expect(answeredCount).toBeGreaterThanOrEqual(300)
    expect(answeredCount).toBeLessThan(sent)

    const connection = await amqp.connect({ hostname: "127.0.0.1", username: "guest", password: "guest", vhost })
    cleanups.push(() => connection.close())
    const channel = await connection.createChannel()
    const { messageCount } = await channel.checkQueue(brokerQueues("wBroker").queue)
    expect(answeredCount + messageCount).toBe(sent)
  }, 120_000)
})
