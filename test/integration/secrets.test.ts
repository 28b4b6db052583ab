import amqp from "amqplib"
import mysql from "mysql2/promise"
import { randomBytes, randomUUID } from "node:crypto"
import { describe, expect, it, onTestFinished } from "vitest"
import { addVhost, uniqueName } from "../../scripts/local-services.mjs"
import { applyUserLayout, removeUsers, userLayout } from "../../scripts/rabbitmq-users.mjs"
import { connectBedsClient, type RequestOptions } from "../../src/client/promise.js"
import { runCli } from "../support/cli.js"
import { testAdminRoute } from "../support/rabbit-users.js"
import { serviceOverrides, startNode, writeConfigDir } from "../support/node-process.js"
import { testServices } from "../support/services.js"

const secret = (what: string) => `S3cret-${what}-${randomBytes(12).toString("hex")}`

/** The forms a secret could leak in: as it is, URL-encoded (inside a connection string), base64 (inside a Basic header). */
const formsOf = (value: string) => [value, encodeURIComponent(value), Buffer.from(value).toString("base64")]

describe("secrets never reach a log line or a reply", () => {
  const services = testServices()

  it("across a node's boot, a served request of each kind, error replies, a dead letter, `beds dlq` and shutdown", async () => {
    const secrets = {
      rabbitmq: secret("rmq"),
      operator: secret("op"),
      producer: secret("web"),
      mariadb: secret("mdb"),
      mongodb: secret("mongo"),
      dynamodb: secret("dyn"),
      signing: secret("sign"),
      nodeKey: secret("node")
    }

    // RabbitMQ: the node, operator and producer users of the least-privilege layout, on a vhost of the test's own.
    const vhost = uniqueName("beds_t")
    const removeVhost = await addVhost(vhost)
    onTestFinished(() => removeVhost())
    const names = { node: `${vhost}_node`, operator: `${vhost}_op`, web: `${vhost}_web` }
    const layout = userLayout({ vhost, node: names.node, operator: names.operator, producers: [{ user: names.web }] })
    const passwordOf: Record<string, string> = { [names.node]: secrets.rabbitmq, [names.operator]: secrets.operator, [names.web]: secrets.producer }
    const route = await testAdminRoute()
    onTestFinished(() => removeUsers(layout, route))
    await applyUserLayout(layout, (user) => passwordOf[user]!, route)

    // MariaDB: an account with a password, on this run's database (where the shipped schema is).
    const mariadbUser = vhost.slice(0, 32)
    const admin = await mysql.createConnection({ host: "127.0.0.1", port: 3306, user: services.mariadb.username, password: services.mariadb.password })
    onTestFinished(() => admin.end())
    for (const host of ["%", "localhost"]) {
      await admin.query("CREATE USER ?@? IDENTIFIED BY ?", [mariadbUser, host, secrets.mariadb])
      onTestFinished(async () => void (await admin.query("DROP USER IF EXISTS ?@?", [mariadbUser, host])))
      await admin.query(`GRANT ALL PRIVILEGES ON \`${services.mariadb.database}\`.* TO ?@?`, [mariadbUser, host])
    }

    // MongoDB: credentials in the URI. jongodb has no authentication, so the mongodb step fails on them
    // (the path where a driver's error could carry them); DynamoDB: a static secret key (dynalite takes any).
    const mongoUri = services.mongodb.uri.replace("mongodb://", `mongodb://beds:${secrets.mongodb}@`)
    const overrides = serviceOverrides(services, "secrets1")
    const configDir = await writeConfigDir({
      "env_dev.toml": {
        ...overrides,
        logging: { level: "trace", format: "json" },
        rabbitmq: { ...overrides.rabbitmq, vhost, username: names.node, password: "set-by-variable" },
        mariadb: { master: { ...overrides.mariadb.master, username: mariadbUser, password: secrets.mariadb } },
        dynamodb: { ...overrides.dynamodb, access_key_id: "beds-test", secret_access_key: secrets.dynamodb },
        // The sessions domain (DynamoDB) is on the session route: served here by the write pool.
        brokers: { wBroker: { routes: ["write", "session"] }, sBroker: { routes: [] } },
        // Signed requests only, and signed events; both secrets from the environment.
        trust: { anonymous_in: [], keys: { web_1: { producer: "web" } }, node_key: "nodes_1" }
      }
    })
    const trustEnv = { BEDS_TRUST__KEYS__WEB_1__SECRET: secrets.signing, BEDS_TRUST__NODE_KEYS__NODES_1: secrets.nodeKey }
    const node = startNode([], { BEDS_CONFIG_DIR: configDir, BEDS_RABBITMQ__PASSWORD: secrets.rabbitmq, BEDS_MONGODB__URI: mongoUri, ...trustEnv })
    onTestFinished(async () => {
      node.child.kill("SIGKILL")
      await node.exited(5_000)
    })
    await node.waitForOutput(/node up/, 30_000)

    // A request of each kind, on MariaDB and DynamoDB (create, fetch, update, a named read, delete),
    // one for MongoDB's domain (not served: its store refused the credentials), and error replies.
    const client = await connectBedsClient({
      vhost,
      username: names.web,
      password: secrets.producer,
      clientId: "secrets",
      signing: { keyId: "web_1", secret: secrets.signing }
    })
    onTestFinished(() => client.close())
    const replies: Array<string> = []
    const ask = async (request: RequestOptions) => {
      const reply = await client.request(request)
      replies.push(JSON.stringify(reply))
      return reply
    }
    const email = `secret.${vhost}@example.com`
    const created = await ask({ template: "customers", op: "create", data: { name: "Secret", email } })
    expect(created).toMatchObject({ status: "ok" })
    const customer = (created as { data: { id: number; version: number } }).data
    expect(await ask({ template: "customers", op: "fetch", query: { id: customer.id } })).toMatchObject({ status: "ok" })
    expect(await ask({ template: "customers", op: "update", data: { id: customer.id, name: "Secret 2", version: customer.version } })).toMatchObject({ status: "ok" })
    expect(await ask({ template: "customers", op: "by_email", route: "read", query: { email } })).toMatchObject({ status: "ok" })
    expect(await ask({ template: "customers", op: "delete", query: { id: customer.id }, caller: { id: "ops", roles: ["admin"] } })).toMatchObject({ status: "ok" })
    const session = `s${randomUUID().replaceAll("-", "")}`
    expect(await ask({ template: "sessions", op: "create", route: "session", data: { session_id: session, user_id: "u1" } })).toMatchObject({ status: "ok" })
    expect(await ask({ template: "sessions", op: "fetch", route: "session", query: { session_id: session } })).toMatchObject({ status: "ok" })
    expect(await ask({ template: "sessions", op: "update", route: "session", data: { session_id: session, user_id: "u2", version: 1 } })).toMatchObject({ status: "ok" })
    expect(await ask({ template: "sessions", op: "by_user", route: "session", query: { user_id: "u2" } })).toMatchObject({ status: "ok" })
    expect(await ask({ template: "sessions", op: "delete", route: "session", query: { session_id: session } })).toMatchObject({ status: "ok" })
    expect(await ask({ template: "mslogs", op: "create", data: { log_id: `log.${session}`, level: "info", node: "n1", message: "m" } })).toMatchObject({ status: "error" })
    expect(await ask({ template: "customers", op: "fetch", query: { id: 2_000_000_000 } })).toMatchObject({ status: "error", error: { code: "not_found" } })
    expect(await ask({ template: "customers", op: "create", data: { name: "x", email: "not an address" } })).toMatchObject({ status: "error", error: { code: "validation" } })

    // A dead letter (a body that is not JSON), answered on direct reply-to.
    const raw = await amqp.connect({ hostname: "127.0.0.1", username: names.web, password: secrets.producer, vhost })
    onTestFinished(() => raw.close().catch(() => undefined))
    const channel = await raw.createChannel()
    await channel.consume("amq.rabbitmq.reply-to", (message) => void replies.push(message!.content.toString()), { noAck: true })
    const before = replies.length
    channel.publish("beds.events", "write.customers.create", Buffer.from("not json"), { correlationId: "dead-1", replyTo: "amq.rabbitmq.reply-to" })
    await expect.poll(() => replies.length, { timeout: 10_000 }).toBe(before + 1)
    expect(replies.at(-1)).toMatch(/"code":"bad_envelope"/)

    // The operator looks at it with `beds dlq` (its own user and password, from the environment).
    const operatorEnv = {
      BEDS_CONFIG_DIR: configDir,
      BEDS_RABBITMQ__USERNAME: names.operator,
      BEDS_RABBITMQ__PASSWORD: secrets.operator,
      BEDS_MONGODB__URI: mongoUri,
      ...trustEnv
    }
    const listed = await runCli(["dlq", "list", "--type", "wBroker"], operatorEnv)
    expect(listed.stdout).toMatch(/#1 +bad_envelope/)
    const shown = await runCli(["dlq", "show", "--type", "wBroker", "1"], operatorEnv)
    expect(shown.code).toBe(0)
    const refused = await runCli(["dlq", "list", "--type", "wBroker"], { ...operatorEnv, BEDS_RABBITMQ__PASSWORD: `${secrets.operator}-wrong` })
    expect(refused.code).toBe(1)

    node.child.kill("SIGTERM")
    expect(await node.exited(15_000)).toBe(0)

    // The paths ran (so the check below means something) ...
    const log = node.stdout() + node.stderr()
    for (const seen of ["IPL rabbitmq: ok", "IPL mariadb master: ok", "IPL dynamodb: ok", "IPL mongodb: failed", "dead-lettered: bad_envelope", "shutdown: done"]) {
      expect(log).toContain(seen)
    }
    // ... and no secret is in any of it, in any form.
    const everything = [log, ...replies, listed.stdout, listed.stderr, shown.stdout, shown.stderr, refused.stdout, refused.stderr].join("\n")
    for (const [name, value] of Object.entries(secrets)) {
      for (const form of formsOf(value)) expect(everything.includes(form), `${name} secret found in the output`).toBe(false)
    }
  })
})
