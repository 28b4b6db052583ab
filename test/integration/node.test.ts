import amqp from "amqplib"
import { randomUUID } from "node:crypto"
import { describe, expect, it, onTestFinished } from "vitest"
import { addVhost, freePort, uniqueName } from "../../scripts/local-services.mjs"
import { trustTable } from "../support/trust.js"
import { serviceOverrides, startNode, writeConfigDir } from "../support/node-process.js"
import { testServices } from "../support/services.js"

// Boot checks of `node dist/main.js` against this run's real RabbitMQ, MariaDB, jongodb and dynalite.
describe("node dist/main.js", () => {
  const services = testServices()

  it("--check exits 0 when every service of the role is up, reporting each step ok", async () => {
    const configDir = await writeConfigDir({ "env_dev.toml": serviceOverrides(services, "check1") })
    const node = startNode(["--check"], { BEDS_CONFIG_DIR: configDir })

    expect(await node.exited(30_000)).toBe(0)
    for (const step of ["config loaded", "logging up", "rabbitmq", "mariadb master", "mongodb", "dynamodb", "shared filesystem", "templates"]) {
      expect(node.stdout()).toMatch(new RegExp(`(IPL ${step}: ok|${step} ok)`))
    }
    expect(node.stdout()).toMatch(/IPL complete: 8 steps ok/)
    expect(node.stderr()).toBe("")
  })

  it("in prod, a closed RabbitMQ port ends the boot at once with the step and host:port", async () => {
    const closedPort = await freePort()
    const configDir = await writeConfigDir({ "env_prod.toml": { ...serviceOverrides(services, "prod1"), trust: trustTable } })
    const node = startNode(["--check"], {
      BEDS_CONFIG_DIR: configDir,
      BEDS_ENV: "prod",
      BEDS_RABBITMQ__PORT: String(closedPort)
    })

    // Bounded wait: a node still running after 10 s is killed and the exit is a signal, not a code.
    expect(await node.exited(10_000)).toBe(1)
    const lastLine = node.stderr().trim().split("\n").at(-1)
    expect(lastLine).toContain(`IPL step "rabbitmq" failed for 127.0.0.1:${closedPort}`)
    // Nothing after the failed step ran.
    expect(node.stdout()).not.toMatch(/IPL mariadb master/)
    // prod logs JSON lines, each naming node, env and role.
    const lines = node.stdout().trim().split("\n").map((line) => JSON.parse(line))
    expect(lines.length).toBeGreaterThan(0)
    for (const line of lines) expect(line.annotations).toMatchObject({ node: "prod1", env: "prod", role: "appServer" })
  })

  it("in dev, a closed RabbitMQ port leaves the node running degraded, saying what is off", async () => {
    const closedPort = await freePort()
    const configDir = await writeConfigDir({ "env_dev.toml": serviceOverrides(services, "dev1") })
    const node = startNode([], { BEDS_CONFIG_DIR: configDir, BEDS_RABBITMQ__PORT: String(closedPort) })

    // Not "up": it cannot serve without RabbitMQ, and it says so.
    await node.waitForOutput(/node not serving yet: waiting for RabbitMQ/, 30_000)
    expect(node.stdout()).toContain(`node DEGRADED: rabbitmq (127.0.0.1:${closedPort} vhost ${services.rabbitmq.vhost})`)
    expect(node.stdout()).not.toMatch(/node up/)
    // The other steps still ran and passed.
    expect(node.stdout()).toMatch(/IPL mariadb master: ok/)
    expect(node.child.exitCode).toBeNull()

    node.child.kill("SIGTERM")
    expect(await node.exited(10_000)).toBe(0)
  })

  it("a started node stops on SIGTERM with exit 0 and no error in its log", async () => {
    const configDir = await writeConfigDir({ "env_dev.toml": serviceOverrides(services, "term1") })
    const node = startNode([], { BEDS_CONFIG_DIR: configDir })

    await node.waitForOutput(/node up; SIGINT or SIGTERM stops it/, 30_000)
    node.child.kill("SIGTERM")

    expect(await node.exited(10_000)).toBe(0)
    expect(node.stdout()).toMatch(/shutdown: signal received/)
    expect(node.stdout()).not.toMatch(/\b(ERROR|FATAL)\b/)
    expect(node.stderr()).toBe("")
  })

  it("says it is up only once it serves: requests published with mandatory the moment it says so all reach a queue", async () => {
    const vhost = uniqueName("beds_t")
    const removeVhost = await addVhost(vhost)
    onTestFinished(() => removeVhost())
    const overrides = serviceOverrides(services, "ready1")
    const configDir = await writeConfigDir({ "env_dev.toml": { ...overrides, rabbitmq: { ...overrides.rabbitmq, vhost } } })
    const node = startNode([], { BEDS_CONFIG_DIR: configDir })
    onTestFinished(async () => {
      node.child.kill("SIGTERM")
      await node.exited(10_000)
    })
    const connection = await amqp.connect({ hostname: "127.0.0.1", username: "guest", password: "guest", vhost })
    onTestFinished(() => connection.close())
    const channel = await connection.createChannel()
    const replyQueue = "amq.rabbitmq.reply-to" // dev takes unsigned requests, answered on direct reply-to only
    const returned: Array<string> = []
    const answered: Array<string> = []
    channel.on("return", (message: amqp.Message) => returned.push(message.fields.routingKey))
    await channel.consume(replyQueue, (message) => void answered.push(String(message?.properties.correlationId)), { noAck: true })

    await node.waitForOutput(/node up; SIGINT or SIGTERM stops it/, 30_000)
    // Every route of the appServer's pools, at once: nothing here is a valid template, so no data changes.
    for (const key of ["read.nosuch.fetch", "write.nosuch.create", "job.nosuch.run"]) {
      const [, template, op] = key.split(".")
      for (let i = 0; i < 20; i++) {
        const body = { version: 1, template, op, lineage: { eventId: `ready.dev.${randomUUID()}`, parentId: "", depth: 0 } }
        channel.publish("beds.events", key, Buffer.from(JSON.stringify(body)), { correlationId: randomUUID(), replyTo: replyQueue, mandatory: true })
      }
    }
    await expect.poll(() => answered.length + returned.length, { timeout: 15_000 }).toBe(60)
    expect(returned).toStrictEqual([])
  })

  it("never writes a secret to its output, even when the services refuse it", async () => {
    const closedPort = await freePort()
    const secret = `s3cret-${services.runId}`
    const configDir = await writeConfigDir({ "env_dev.toml": serviceOverrides(services, "secret1") })
    const node = startNode(["--check"], {
      BEDS_CONFIG_DIR: configDir,
      BEDS_RABBITMQ__PASSWORD: secret,
      BEDS_MARIADB__MASTER__PASSWORD: secret,
      BEDS_MONGODB__URI: `mongodb://beds:${secret}@127.0.0.1:${closedPort}`,
      BEDS_IPL__STEP_TIMEOUT_MS: "1500",
      BEDS_LOGGING__LEVEL: "trace"
    })

    expect(await node.exited(30_000)).toBe(1)
    // The failures are reported (so the test sees the paths that could leak) ...
    expect(node.stdout()).toMatch(/IPL rabbitmq: failed/)
    expect(node.stdout()).toMatch(/IPL mariadb master: failed: Access denied/)
    expect(node.stdout()).toContain(`IPL mongodb: failed`)
    expect(node.stdout()).toContain(`127.0.0.1:${closedPort}/${services.mongodb.database}`)
    // ... and the secret appears nowhere.
    expect(node.stdout() + node.stderr()).not.toContain(secret)
  })

  it("refuses a bad config with one line naming the source, the key path, what was expected and found", async () => {
    const configDir = await writeConfigDir({ "env_dev.toml": serviceOverrides(services, "bad1") })
    const node = startNode([], { BEDS_CONFIG_DIR: configDir, BEDS_BROKERS__RBROKER__INSTANCES: "many" })

    expect(await node.exited(10_000)).toBe(1)
    expect(node.stderr().trim()).toBe(
      "beds: fatal: config: environment variable BEDS_BROKERS__RBROKER__INSTANCES: brokers.rBroker.instances: " +
        "expected integer, found \"many\""
    )
    expect(node.stdout()).toBe("")
  })
})
