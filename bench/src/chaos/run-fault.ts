// One fault run: a fresh vhost on the private RabbitMQ node and a fresh database on the private
// MariaDB, the chaos domain's schema applied as `npm run schema:apply` applies it, two appServer
// nodes serving, the load with the fault under it, then the queues drained and the ledger compared
// with the rows. Everything the run made is removed before it returns.
import { randomBytes } from "node:crypto"
import { cp, mkdir, rm } from "node:fs/promises"
import path from "node:path"
import { performance } from "node:perf_hooks"
import { connectBedsClient } from "../../../dist/client/promise.js"
import { analyse, type FaultResult } from "./analyse.js"
import { repoRoot, startBedsNode, writeConfigDir, type BedsNode } from "./beds-node.js"
import type { Fault, FaultContext, FaultWindow } from "./faults.js"
import type { Lab } from "./lab.js"
import { driveLoad, type LoadProgress } from "./load.js"
import { Cleanups, command, sleep, tail, waitUntil } from "./processes.js"
import type { Profile } from "./profiles.js"
import { startQueueMonitor } from "./queue-monitor.js"

export const CHAOS_TEMPLATE = "chaos_ledger"
const BROKER_QUEUES = ["beds.wBroker", "beds.rBroker"]
const NODE_BOOT_MS = 60_000

/** `keepLogsIn`: a directory to copy the run's node logs into before the run is removed. */
export const runFault = async (lab: Lab, fault: Fault, profile: Profile, options: { readonly keepLogsIn?: string } = {}): Promise<FaultResult> => {
  const runId = `${fault.name.replaceAll("-", "_")}_${randomBytes(3).toString("hex")}`
  const vhost = `chaos_${runId}`
  const database = `chaos_${runId}`
  const runDirectory = path.join(lab.directory, "runs", runId)
  const cleanups = new Cleanups()
  const nodes: Array<BedsNode> = []
  try {
    await mkdir(runDirectory, { recursive: true })
    cleanups.add("remove the run directory", () => rm(runDirectory, { recursive: true, force: true }))
    const keepLogsIn = options.keepLogsIn
    if (keepLogsIn !== undefined) {
      cleanups.add("keep the node logs", () =>
        cp(runDirectory, path.join(keepLogsIn, runId), { recursive: true, filter: (source) => !source.includes("config-") }))
    }
    const configDirs = ["a", "b"].map((suffix) => path.join(runDirectory, `config-${suffix}`))
    for (const [i, configDir] of configDirs.entries()) {
      await writeConfigDir(configDir, {
        config_version: 1,
        node: { id: `chaos-${i === 0 ? "a" : "b"}`, role: "appServer" },
        logging: { level: "info" },
        rabbitmq: { host: "127.0.0.1", port: lab.rabbit.port, vhost, username: "guest", password: "guest" },
        mariadb: { master: { host: "127.0.0.1", port: lab.mariadb.port, database, username: "root", password: "" } },
        mongodb: { uri: lab.mongodbUri, database: "beds_chaos" },
        dynamodb: { endpoint: lab.dynamodbEndpoint, region: "us-east-1", access_key_id: "local", secret_access_key: "local" },
        shared_fs: { path: lab.sharedDirectory },
        templates: { directory: lab.templatesDirectory, schema_directory: lab.schemaDirectory }
      })
    }
    // The vhost, and the database with the domain's objects (applied by the product's own entry
    // point, with whatever it applies besides them), made side by side; each removed at the end.
    const made = await Promise.allSettled([
      lab.rabbit.addVhost(vhost).then(() => cleanups.add(`delete vhost ${vhost}`, () => lab.rabbit.deleteVhost(vhost))),
      lab.mariadb.query(`CREATE DATABASE \`${database}\``).then(() => {
        cleanups.add(`drop database ${database}`, () => lab.mariadb.query(`DROP DATABASE IF EXISTS \`${database}\``))
        return command(process.execPath, [path.join(repoRoot, "dist", "schema-apply.js")], {
          PATH: process.env["PATH"] ?? "",
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
          BEDS_ENV: "dev",
          BEDS_CONFIG_DIR: configDirs[0]!,
          ...lab.markerEnv
        }, 60_000)
      })
    ])
    for (const step of made) if (step.status === "rejected") throw step.reason

    const launch = (index: number) => {
      const node = startBedsNode({
        id: `chaos-${index === 0 ? "a" : "b"}`,
        configDir: configDirs[index]!,
        logFile: path.join(runDirectory, `node-${index === 0 ? "a" : "b"}.log`),
        markerEnv: lab.markerEnv
      })
      nodes[index] = node
      return node
    }
    cleanups.add("stop the BEDS nodes", () => Promise.all(nodes.map((node) => node.stop(20_000))))
    await Promise.all([launch(0), launch(1)].map((node) => node.serving(NODE_BOOT_MS)))

    const client = await connectBedsClient({
      port: lab.rabbit.port,
      vhost,
      username: "guest",
      password: "guest",
      clientId: "chaos",
      timeoutMs: profile.attemptTimeoutMs
    })
    cleanups.add("close the client", () => client.close())

    const t0 = performance.now()
    const now = () => performance.now() - t0
    const monitor = startQueueMonitor({ port: lab.rabbit.port, vhost, queues: BROKER_QUEUES, now })
    cleanups.add("stop the queue monitor", () => monitor.stop())
    let abandoned = false
    const stopped = () => abandoned || now() > profile.loadLimitMs
    const context: FaultContext = {
      lab,
      vhost,
      profile,
      nodes,
      restartNode: (index) => launch(index).serving(NODE_BOOT_MS),
      now
    }
    // The load goes on while the fault lasts and `tailMs` after it, so recovery happens under load.
    let window: FaultWindow | undefined
    let faultOver = fault.inject === undefined
    const progress: LoadProgress = { sent: 0 }
    const load = driveLoad(client, {
      template: CHAOS_TEMPLATE,
      keyPrefix: `chx-${runId}`,
      requests: profile.requests,
      maxRequests: profile.maxRequests,
      inFlight: profile.inFlight,
      ratePerSecond: profile.ratePerSecond,
      createShare: profile.createShare,
      attemptTimeoutMs: profile.attemptTimeoutMs,
      maxAttempts: profile.maxAttempts,
      resendBaseDelayMs: profile.resendBaseDelayMs,
      resendMaxDelayMs: profile.resendMaxDelayMs,
      seed: 12
    }, {
      now,
      stopped,
      progress,
      mayFinish: () => faultOver && (window === undefined || now() >= window.end + profile.tailMs)
    })
    if (fault.inject !== undefined) {
      const inject = fault.inject
      try {
        await waitUntil(async () => progress.sent >= profile.faultAfterRequests, {
          timeoutMs: profile.loadLimitMs,
          intervalMs: 10,
          describe: () => `the load never reached ${profile.faultAfterRequests} requests`
        })
        window = await inject(context)
        faultOver = true
      } catch (error) {
        abandoned = true // the lab may be broken: stop the load, report the fault's failure
        await load
        throw new Error(`fault ${fault.name} failed: ${error instanceof Error ? error.message : String(error)}`)
      }
    }
    const ledger = await load
    const loadDone = now()

    // Every message the nodes still hold or will be given again must be handled before rows are
    // counted: RabbitMQ's own count (ready + unacknowledged) of the broker queues, down to zero.
    let depths: Record<string, number> = {}
    await waitUntil(async () => {
      depths = await lab.rabbit.queueDepths(vhost)
      return BROKER_QUEUES.every((queue) => (depths[queue] ?? 0) === 0)
    }, {
      timeoutMs: profile.drainLimitMs,
      intervalMs: 500,
      describe: () => `queues of ${vhost} not drained within ${profile.drainLimitMs} ms: ${JSON.stringify(depths)}`
    })
    await sleep(500) // one more sample of the monitor after the drain
    const counted = await lab.mariadb.query<Array<{ ledger: string; n: number }>>(
      "SELECT ledger, COUNT(*) AS n FROM chx_entries GROUP BY ledger", [], database)
    const deadLetters = Object.entries(depths).filter(([queue]) => queue.endsWith(".dlq")).reduce((sum, [, n]) => sum + n, 0)
    return analyse({
      fault: fault.name,
      title: fault.title,
      profile: profile.name,
      ledger,
      rows: new Map(counted.map((row) => [row.ledger, Number(row.n)])),
      deadLetters,
      window,
      samples: monitor.samples,
      durationMs: loadDone
    })
  } catch (error) {
    const logs = await Promise.all(nodes.map(async (node) => `--- the last lines of ${node.id}'s log:\n${await tail(node.logFile, 25)}`))
    throw new Error(`${error instanceof Error ? error.message : String(error)}\n${logs.join("\n")}`)
  } finally {
    await cleanups.runAll()
  }
}
