import { describe, expect, it } from "@effect/vitest"
import { NodeContext } from "@effect/platform-node"
import type amqp from "amqplib"
import { Effect, Layer, Logger, Schedule } from "effect"
import mysql from "mysql2/promise"
import { randomUUID } from "node:crypto"
import path from "node:path"
import { addDatabase, uniqueName } from "../../scripts/local-services.mjs"
import { DeadLetterWatchLive } from "../../src/brokers/dead-letter-watch.js"
import { loadConfig } from "../../src/config/load.js"
import type { Reply } from "../../src/protocol/envelope.js"
import { DIRECT_REPLY_TO, EVENTS_EXCHANGE } from "../../src/protocol/routing.js"
import { applyMariaDbSchema } from "../../src/schema/mariadb.js"
import { loadTemplates } from "../../src/templates/load.js"
import { AmqpConnectionLive } from "../../src/transport/connection.js"
import { runCli } from "../support/cli.js"
import { fixtures, startFixtureNodes } from "../support/fixture-node.js"
import { repoRoot, serviceOverrides, writeConfigDir } from "../support/node-process.js"
import { rabbitConfig, rawConnection, scopedVhost } from "../support/rabbit.js"
import { testServices } from "../support/services.js"
import { replyPrefix, signedHeaders, trustTable } from "../support/trust.js"

const services = testServices()
const DLQ = "beds.wBroker.dlq"

/** A database of this test's own: it drops a procedure on purpose, which no other test may see. */
const scopedDatabase = Effect.acquireRelease(
  Effect.promise(async () => {
    const name = uniqueName("beds_t")
    return { name, drop: await addDatabase(name) }
  }),
  ({ drop }) => Effect.promise(() => drop().catch(() => undefined))
).pipe(Effect.map(({ name }) => name))

/** A node serving the contract_rel fixture (MariaDB) on its own vhost and database, its config dir for `beds`, and a raw channel. */
const setUp = Effect.gen(function*() {
  const vhost = yield* scopedVhost
  const database = yield* scopedDatabase
  const overrides = serviceOverrides(services, "dlq1")
  const configDir = yield* Effect.promise(() =>
    writeConfigDir({
      "env_dev.toml": {
        ...overrides,
        rabbitmq: { ...overrides.rabbitmq, vhost },
        mariadb: { master: { ...overrides.mariadb.master, database } },
        dead_letters: { warn_length: 1 },
        // Signed requests only: a replay is signed again by `beds` (with the key that signed it), from this config.
        trust: trustTable
      }
    })
  )
  const config = yield* loadConfig({ directory: configDir, env: "dev", variables: {} }).pipe(Effect.provide(NodeContext.layer))
  const applySchema = applyMariaDbSchema(config.mariadb.master, [path.join(repoRoot, "schema", "beds", "mariadb"), path.join(fixtures, "schema", "mariadb")]).pipe(
    Effect.provide(NodeContext.layer)
  )
  yield* applySchema
  const templates = yield* loadTemplates(path.join(fixtures, "templates")).pipe(Effect.provide(NodeContext.layer))
  const template = templates.map((entry) => entry.template).find((t) => t.name === "contract_rel")!
  yield* startFixtureNodes(vhost, [config], [template])

  const db = yield* Effect.acquireRelease(
    Effect.promise(() => mysql.createConnection({ host: "127.0.0.1", port: 3306, user: services.mariadb.username, password: services.mariadb.password, database })),
    (connection) => Effect.promise(() => connection.end().catch(() => undefined))
  )
  const raw = yield* rawConnection(vhost)
  const channel = yield* Effect.promise(() => raw.createConfirmChannel())
  // A reply queue the tests' producer key may name, and direct reply-to (where refusals are answered).
  const { queue: replyQueue } = yield* Effect.promise(() => channel.assertQueue(`${replyPrefix}${randomUUID()}`, { exclusive: true }))
  const replies: Array<{ correlationId: string; reply: Reply }> = []
  for (const queue of [replyQueue, DIRECT_REPLY_TO]) {
    yield* Effect.promise(() =>
      channel.consume(queue, (message) => {
        if (message !== null) replies.push({ correlationId: String(message.properties.correlationId), reply: JSON.parse(message.content.toString()) as Reply })
      }, { noAck: true })
    )
  }
  const cli = (...args: ReadonlyArray<string>) => Effect.promise(() => runCli(args, { BEDS_CONFIG_DIR: configDir, BEDS_ENV: "dev" }))
  const dlqLength = Effect.promise(() => channel.checkQueue(DLQ)).pipe(Effect.map((queue) => queue.messageCount))
  const waitFor = <A>(check: Effect.Effect<A | undefined>, what: string) =>
    check.pipe(
      Effect.filterOrFail((found): found is A => found !== undefined, () => `still waiting for ${what}`),
      Effect.retry(Schedule.spaced("25 millis").pipe(Schedule.upTo("15 seconds")))
    )
  const rowsWith = (id: string) =>
    Effect.promise(() => db.query<Array<mysql.RowDataPacket>>("SELECT title, version FROM crl_items WHERE id = ?", [id])).pipe(Effect.map(([rows]) => rows))
  return { vhost, db, channel, replyQueue, replies, cli, dlqLength, waitFor, rowsWith, applySchema }
})

describe("dead-letter operations: beds dlq list, show, replay, purge", () => {
  it.scopedLive("a poisoned write is listed with its code and reason and stays; replayed after the fix it is answered; replayed again it does not run again; purge asks first", () =>
    Effect.gen(function*() {
      const { db, channel, replyQueue, replies, cli, dlqLength, waitFor, rowsWith, applySchema } = yield* setUp

      // The poison: the DBA's procedure behind create is missing, so the write is a defect and dead-lettered.
      yield* Effect.promise(() => db.query("DROP PROCEDURE crl_create"))
      const id = `dlq${randomUUID().replaceAll("-", "").slice(0, 12)}`
      const eventId = `dlqtest.dev.${randomUUID()}`
      const envelope = Buffer.from(JSON.stringify({
        version: 1,
        template: "contract_rel",
        op: "create",
        data: { id, title: "poisoned" },
        lineage: { eventId, parentId: "", depth: 0 }
      }))
      const properties: amqp.Options.Publish = {
        correlationId: "poisoned-1",
        replyTo: replyQueue,
        messageId: eventId,
        contentType: "application/json",
        persistent: true,
        headers: signedHeaders("write.contract_rel.create", "poisoned-1", replyQueue, envelope)
      }
      channel.publish(EVENTS_EXCHANGE, "write.contract_rel.create", envelope, properties)
      const first = yield* waitFor(Effect.sync(() => replies[0]), "the poisoned write's reply")
      expect(first).toMatchObject({ correlationId: "poisoned-1", reply: { status: "error", error: { code: "internal" } } })

      // Listed with code, reason, template.op, age and eventId; listing and showing it do not consume it.
      const listed = yield* cli("dlq", "list", "--type", "wBroker")
      expect(listed).toMatchObject({ code: 0, stderr: "" })
      expect(listed.stdout).toMatch(/^beds\.wBroker\.dlq \(127\.0\.0\.1:5672 vhost .*\): 1 dead letter$/m)
      const row = listed.stdout.split("\n").find((line) => line.startsWith("#1 "))!
      expect(row).toMatch(new RegExp(`^#1 +internal +contract_rel\\.create +\\d+s +${eventId} +defect \\(see the node log for ${eventId}\\)$`))
      expect(yield* dlqLength).toBe(1)
      const shown = yield* cli("dlq", "show", "--type", "wBroker", "1")
      expect(shown.code).toBe(0)
      expect(shown.stdout).toContain(`"title": "poisoned"`)
      expect(shown.stdout).toContain(`"correlationId":"poisoned-1"`)
      expect(yield* dlqLength).toBe(1)

      // Fixed (the procedure is back), replayed by id: the node answers the original replyTo, and the row is there.
      yield* applySchema
      const replayed = yield* cli("dlq", "replay", "--type", "wBroker", eventId)
      expect(replayed).toMatchObject({ code: 0, stderr: "" })
      expect(replayed.stdout).toContain(`replayed #1 ${eventId} -> write.contract_rel.create`)
      const second = yield* waitFor(Effect.sync(() => replies[1]), "the replayed write's reply")
      expect(second).toMatchObject({ correlationId: "poisoned-1", reply: { status: "ok", data: { id, title: "poisoned", version: 1 } } })
      expect(yield* dlqLength).toBe(0)
      expect(yield* rowsWith(id)).toStrictEqual([{ title: "poisoned", version: 1 }])

      // The same write dead-lettered again after it ran (as when its reply was lost), twice over: replayed, it
      // answers with its first outcome and does not run again (a second insert would be a duplicate key).
      for (const copy of [1, 2]) {
        yield* Effect.promise(() =>
          new Promise<void>((resolve, reject) =>
            channel.publish("beds.wBroker.dlx", "write.contract_rel.create", envelope, {
              ...properties,
              headers: { ...properties.headers, "x-beds-code": "unavailable", "x-beds-reason": `mariadb: connection lost (copy ${copy})`, "x-beds-broker": "wBroker", "x-beds-time": Date.now() }
            }, (error) => (error ? reject(error) : resolve())))
        )
      }
      const long = yield* cli("dlq", "list", "--type", "wBroker", "--code", "unavailable")
      expect(long.stderr).toBe("warning: beds.wBroker.dlq holds 2 dead letters, more than dead_letters.warn_length 1\n")
      // By id: both copies of the request.
      const again = yield* cli("dlq", "replay", "--type", "wBroker", eventId, "--reply-here", "--wait-s", "15")
      expect(again).toMatchObject({ code: 0, stderr: "" })
      const firstData = JSON.stringify((second.reply as Extract<Reply, { status: "ok" }>).data)
      expect(again.stdout).toContain(`#1 ${eventId}: ok ${firstData}`)
      expect(again.stdout).toContain(`#2 ${eventId}: ok ${firstData}`)
      expect(yield* rowsWith(id)).toStrictEqual([{ title: "poisoned", version: 1 }])
      expect(yield* dlqLength).toBe(0)
      expect(replies).toHaveLength(2)

      // Purge asks first: without --yes and no terminal it refuses; with --yes it removes only what is chosen.
      // Two dead letters, both bad_envelope: a body that is not JSON (answered), and one without a correlationId (not answerable).
      channel.publish(EVENTS_EXCHANGE, "write.contract_rel.create", Buffer.from("not json"), { correlationId: "bad-1", replyTo: DIRECT_REPLY_TO })
      channel.publish(EVENTS_EXCHANGE, "write.contract_rel.create", Buffer.from("{}"), { replyTo: DIRECT_REPLY_TO })
      yield* waitFor(Effect.map(dlqLength, (n) => (n === 2 ? n : undefined)), "two dead letters")
      expect(replies.slice(2).map((r) => r.reply)).toMatchObject([{ status: "error", error: { code: "bad_envelope" } }])

      const refused = yield* cli("dlq", "purge", "--type", "wBroker", "--all", "--code", "bad_envelope")
      expect(refused.code).toBe(1)
      expect(refused.stderr).toBe("beds: purge removes 2 dead letters for good: pass --yes to confirm (no terminal to ask on)\n")
      expect(yield* dlqLength).toBe(2)

      const one = yield* cli("dlq", "purge", "--type", "wBroker", "--yes", "2")
      expect(one).toMatchObject({ code: 0, stderr: "" })
      expect(one.stdout).toBe("purged 1 dead letter from beds.wBroker.dlq; 1 left\n")
      expect(yield* dlqLength).toBe(1)

      const missing = yield* cli("dlq", "list", "--type", "sBroker")
      expect(missing.code).toBe(1)
      expect(missing.stderr).toMatch(/^beds: no queue beds\.sBroker\.dlq \(127\.0\.0\.1:5672 vhost \S+\): no node has run a sBroker pool on this vhost\n$/)
    }), { timeout: 120_000 })

  it.scopedLive("a node warns while a dead-letter queue is longer than dead_letters.warn_length, and says when it is back under", () =>
    Effect.gen(function*() {
      const vhost = yield* scopedVhost
      const raw = yield* rawConnection(vhost)
      const channel = yield* Effect.promise(() => raw.createChannel())
      yield* Effect.promise(() => channel.assertQueue(DLQ, { durable: true }))
      for (let i = 0; i < 3; i++) channel.sendToQueue(DLQ, Buffer.from(`letter ${i}`))
      const lines: Array<string> = []
      const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ logLevel, message }) => {
        lines.push(`${logLevel.label} ${(Array.isArray(message) ? message : [message]).join(" ")}`)
      }))
      // rBroker's queue does not exist: skipped, not an error.
      yield* Layer.build(DeadLetterWatchLive(["rBroker", "wBroker"], { warnLength: 2, intervalS: 1 }).pipe(
        Layer.provide(AmqpConnectionLive(rabbitConfig(vhost), { name: "dlq watch test", connectTimeoutMs: 5_000 })),
        Layer.provide(capture)
      ))
      const warned = `WARN dead-letter queue ${DLQ} holds 3 messages, more than dead_letters.warn_length 2: see \`beds dlq list --type wBroker\``
      yield* Effect.sync(() => lines.includes(warned)).pipe(
        Effect.filterOrFail((found) => found, () => "no warning yet"),
        Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("10 seconds")))
      )
      yield* Effect.promise(() => channel.purgeQueue(DLQ))
      yield* Effect.sync(() => lines.some((line) => line.startsWith(`INFO dead-letter queue ${DLQ} is back under`))).pipe(
        Effect.filterOrFail((found) => found, () => "not back under yet"),
        Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("10 seconds")))
      )
      expect(lines.filter((line) => line.startsWith("ERROR"))).toStrictEqual([])
    }), { timeout: 30_000 })
})
