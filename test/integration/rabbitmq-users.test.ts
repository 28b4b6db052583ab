import amqp from "amqplib"
import { describe, expect, it, onTestFinished } from "vitest"
import { addVhost, uniqueName } from "../../scripts/local-services.mjs"
import { applyUserLayout, generatePassword, removeUsers, userLayout } from "../../scripts/rabbitmq-users.mjs"
import { connectBedsClient } from "../../src/client/promise.js"
import { runCli } from "../support/cli.js"
import { testAdminRoute } from "../support/rabbit-users.js"
import { serviceOverrides, startNode, writeConfigDir } from "../support/node-process.js"
import { testServices } from "../support/services.js"

/**
 * The closing error RabbitMQ sent when it refused what `use` did on a fresh channel of `connection`
 * (a refused publish closes the channel asynchronously; a refused method fails at once).
 */
const refusal = async (connection: amqp.ChannelModel, use: (channel: amqp.ConfirmChannel) => Promise<unknown> | void) => {
  const channel = await connection.createConfirmChannel()
  const closed = new Promise<string>((resolve) => {
    let reason = "closed without an error"
    channel.on("error", (error: Error) => {
      reason = error.message
    })
    channel.once("close", () => resolve(reason))
  })
  await Promise.resolve(use(channel)).catch(() => undefined)
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve("not refused within 5 s"), 5_000).unref())
  return Promise.race([closed, timeout])
}

const publishOn = (exchange: string, routingKey: string) => (channel: amqp.ConfirmChannel) =>
  new Promise((resolve) => channel.publish(exchange, routingKey, Buffer.from("{}"), {}, resolve))

describe("RabbitMQ's least-privilege users (scripts/rabbitmq-users.mjs) on a vhost of the test's own", () => {
  const services = testServices()

  it("RabbitMQ refuses a producer that consumes a broker queue or publishes on beds.logs; a node runs as its user; the operator reads dead letters", async () => {
    const vhost = uniqueName("beds_t")
    const removeVhost = await addVhost(vhost)
    onTestFinished(() => removeVhost())
    const names = { node: `${vhost}_node`, web: `${vhost}_web`, operator: `${vhost}_op` }
    const layout = userLayout({ vhost, node: names.node, operator: names.operator, producers: [{ user: names.web, routes: ["read", "write"] }] })
    const passwords = new Map(layout.map((entry) => [entry.user, generatePassword()]))
    const password = (user: string) => passwords.get(user)!
    const route = await testAdminRoute()
    onTestFinished(() => removeUsers(layout, route))
    await applyUserLayout(layout, password, route)

    // The node, as the node user (its password in the environment, as an operator would pass it).
    const overrides = serviceOverrides(services, "lp1")
    const configDir = await writeConfigDir({
      "env_dev.toml": { ...overrides, rabbitmq: { ...overrides.rabbitmq, vhost, username: names.node, password: "not-this-one" } }
    })
    const node = startNode([], { BEDS_CONFIG_DIR: configDir, BEDS_RABBITMQ__PASSWORD: password(names.node) })
    onTestFinished(async () => {
      node.child.kill("SIGTERM")
      await node.exited(10_000)
    })
    await node.waitForOutput(/node up; SIGINT or SIGTERM stops it/, 30_000)

    // The producer's requests are served: a write and a read, on direct reply-to.
    const client = await connectBedsClient({ vhost, username: names.web, password: password(names.web), clientId: "lpweb" })
    onTestFinished(() => client.close())
    const created = await client.request({ template: "customers", op: "create", data: { name: "Least", email: `least.${vhost}@example.com` } })
    expect(created).toMatchObject({ status: "ok", data: { name: "Least" } })
    const id = created.status === "ok" ? (created.data as { id: number }).id : -1
    expect(await client.request({ template: "customers", op: "fetch", query: { id } })).toMatchObject({ status: "ok", data: { id, name: "Least" } })

    // A request the node cannot read is answered and dead-lettered: the node user may write its dead letters.
    const producer = await amqp.connect({ hostname: "127.0.0.1", username: names.web, password: password(names.web), vhost })
    producer.on("error", () => undefined)
    onTestFinished(() => producer.close().catch(() => undefined))
    const replies = await producer.createChannel()
    const answered: Array<string> = []
    await replies.consume("amq.rabbitmq.reply-to", (message) => void answered.push(message!.content.toString()), { noAck: true })
    replies.publish("beds.events", "write.customers.create", Buffer.from("not json"), { correlationId: "c1", replyTo: "amq.rabbitmq.reply-to" })
    await expect.poll(() => answered.length, { timeout: 10_000 }).toBe(1)
    expect(JSON.parse(answered[0]!)).toMatchObject({ status: "error", error: { code: "bad_envelope" } })

    // What a producer may not do, refused by RabbitMQ itself (403 ACCESS_REFUSED closes the channel).
    const refusedFor = (user: string, what: string) => new RegExp(`ACCESS_REFUSED - access to ${what} in vhost '${vhost}' refused for user '${user}'`)
    expect(await refusal(producer, (ch) => ch.consume("beds.wBroker", () => undefined))).toMatch(refusedFor(names.web, "queue 'beds.wBroker'"))
    expect(await refusal(producer, (ch) => ch.get("beds.wBroker.dlq"))).toMatch(refusedFor(names.web, "queue 'beds.wBroker.dlq'"))
    expect(await refusal(producer, publishOn("beds.logs", "cache.invalidate.customers"))).toMatch(refusedFor(names.web, "exchange 'beds.logs'"))
    expect(await refusal(producer, (ch) => ch.assertQueue("beds.sneaky"))).toMatch(refusedFor(names.web, "queue 'beds.sneaky'"))
    // Its topic permission: only its routes (read, write) on beds.events.
    expect(await refusal(producer, publishOn("beds.events", "job.customers.run"))).toMatch(
      refusedFor(names.web, "topic 'job.customers.run' in exchange 'beds.events'")
    )

    // The node user serves, and nothing else: no requests of its own, no dead letters to read.
    const asNode = await amqp.connect({ hostname: "127.0.0.1", username: names.node, password: password(names.node), vhost })
    asNode.on("error", () => undefined)
    onTestFinished(() => asNode.close().catch(() => undefined))
    expect(await refusal(asNode, publishOn("beds.events", "write.customers.create"))).toMatch(refusedFor(names.node, "exchange 'beds.events'"))
    expect(await refusal(asNode, (ch) => ch.get("beds.wBroker.dlq"))).toMatch(refusedFor(names.node, "queue 'beds.wBroker.dlq'"))
    expect(await refusal(asNode, publishOn("beds.logs", "forged.anything"))).toMatch(refusedFor(names.node, "topic 'forged.anything' in exchange 'beds.logs'"))

    // The operator reads the dead letter with `beds dlq list` (the node's config, the operator's user), and may not consume requests.
    const listed = await runCli(["dlq", "list", "--type", "wBroker"], {
      BEDS_CONFIG_DIR: configDir,
      BEDS_RABBITMQ__USERNAME: names.operator,
      BEDS_RABBITMQ__PASSWORD: password(names.operator)
    })
    expect(listed.stderr).toBe("")
    expect(listed.stdout).toMatch(/beds\.wBroker\.dlq .*: 1 dead letter$/m)
    expect(listed.stdout).toMatch(/#1 +bad_envelope +\?\.\? /)
    const asOperator = await amqp.connect({ hostname: "127.0.0.1", username: names.operator, password: password(names.operator), vhost })
    asOperator.on("error", () => undefined)
    onTestFinished(() => asOperator.close().catch(() => undefined))
    expect(await refusal(asOperator, (ch) => ch.consume("beds.wBroker", () => undefined))).toMatch(refusedFor(names.operator, "queue 'beds.wBroker'"))
    expect(await refusal(asOperator, publishOn("beds.logs", "audit.customers.create"))).toMatch(refusedFor(names.operator, "exchange 'beds.logs'"))

    // The node logged no refusal of its own.
    expect(node.stdout()).not.toMatch(/ACCESS_REFUSED|ACCESS-REFUSED/)
  })
})
