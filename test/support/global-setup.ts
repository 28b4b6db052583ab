import { spawnSync } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import type { TestProject } from "vitest/node"
import { isListening, startIsolatedServices } from "../../scripts/local-services.mjs"
import { rabbitAdminRoute } from "../../scripts/rabbit-admin.mjs"
import type { TestServices } from "./services.js"
import { NodeContext } from "@effect/platform-node"
import { Effect, Redacted } from "effect"
import { applySchemas } from "../../src/schema/apply.js"

/**
 * Everything this test run uses is its own: a RabbitMQ vhost, a MariaDB database, a jongodb and a
 * dynalite on free ports, a temp directory. All of it is removed when the run ends.
 */
export default async function setup(project: TestProject) {
  // RabbitMQ and MariaDB are the machine's own: started (with the machine's commands) if down, and
  // RabbitMQ administration (vhosts, connection closes) opened to this user if it is not root.
  const ready = async () => (await isListening(5672)) && (await isListening(3306)) && (await rabbitAdminRoute().then(() => true, () => false))
  // What is missing is said in one line (no stack: it is not a bug in the tests).
  const oneLine = (message: string) => Object.assign(new Error(message), { stack: `beds test setup: ${message}` })
  if (!(await ready())) {
    const ensured = spawnSync("bash", [path.join(import.meta.dirname, "../../scripts/ensure-services.sh")], { stdio: "inherit" })
    if (ensured.status !== 0) throw oneLine("scripts/ensure-services.sh failed (its output is above)")
  }
  await rabbitAdminRoute().catch((error: Error) => {
    throw oneLine(error.message)
  })
  const cleanups: Array<() => Promise<unknown>> = []
  const teardown = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error) => console.error("teardown:", error))
  }
  try {
    const isolated = await startIsolatedServices("beds_t")
    cleanups.push(isolated.stop)
    const { runId } = isolated

    // The shipped templates' DBA objects, applied as `npm run schema:apply` applies them.
    await Effect.runPromise(applySchemas(path.join(import.meta.dirname, "../../schema"), {
      mariadb: { host: "127.0.0.1", port: 3306, database: runId, username: isolated.mariadbAdmin.username, password: Redacted.make(isolated.mariadbAdmin.password) },
      mongodb: { uri: Redacted.make(isolated.mongoUri), database: runId },
      dynamodb: { region: "us-east-1", endpoint: isolated.dynamoEndpoint, access_key_id: "local", secret_access_key: Redacted.make("local") }
    }).pipe(Effect.provide(NodeContext.layer)))

    const sharedDir = await mkdtemp(path.join(tmpdir(), `${runId}-`))
    cleanups.push(() => rm(sharedDir, { recursive: true, force: true }))

    const services: TestServices = {
      runId,
      rabbitmq: { host: "127.0.0.1", port: 5672, vhost: runId, username: "guest", password: "guest" },
      mariadb: { host: "127.0.0.1", port: 3306, database: runId, ...isolated.mariadbAdmin },
      mongodb: { uri: isolated.mongoUri, database: runId },
      dynamodb: { endpoint: isolated.dynamoEndpoint, region: "us-east-1", accessKeyId: "local", secretAccessKey: "local" },
      sharedDir
    }
    project.provide("services", services)
  } catch (error) {
    await teardown()
    throw error
  }
  return teardown
}
