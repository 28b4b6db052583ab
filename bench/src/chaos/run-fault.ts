// One fault run: a fresh vhost on the private RabbitMQ node, two appServer nodes serving the chaos
// template (its database is the lab's; the run's keys carry a prefix of its own), the load with the
// fault under it, then the queues drained and the ledger compared with the run's rows. The nodes,
// the vhost and the run's directory are removed before it returns.
import { randomBytes } from "node:crypto"
import { cp, mkdir, rm } from "node:fs/promises"
import path from "node:path"
import { performance } from "node:perf_hooks"
import { connectBedsClient } from "../../../dist/client/promise.js"
import { analyse, type FaultResult } from "./analyse.js"
import { startBedsNode, writeConfigDir, type BedsNode } from "./beds-node.js"
import type { Fault, FaultContext, FaultWindow } from "./faults.js"
import { nodeOverrides, type Lab } from "./lab.js"
import { driveLoad, type LoadProgress } from "./load.js"
import { Cleanups, sleep, tail, waitUntil } from "./processes.js"
import type { Profile } from "./profiles.js"
import { startQueueMonitor } from "./queue-monitor.js"

export const CHAOS_TEMPLATE = "chaos_ledger"
const BROKER_QUEUES = ["beds.wBroker", "beds.rBroker"]
const NODE_BOOT_MS = 60_000

/** `keepLogsIn`: a directory to copy the run's node logs into before the run is removed. */
export const runFault = async (lab: Lab, fault: Fault, profile: Profile, options: { readonly keepLogsIn?: string } = {}): Promise<FaultResult> => {
  const runId = `${fault.name}-${randomBytes(3).toString("hex")}`
  const vhost = `chaos-${runId}`
  const keyPrefix = `chx-${runId}`
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
    // Node `chaos-{label}`: its config directory and its log file are named after its label.
    const configure = (label: string) =>
      writeConfigDir(path.join(runDirectory, `config-${label}`), nodeOverrides(lab.nodeServices, `chaos-${label}`, vhost, fault.queueType))
    const launch = (index: number, label: string) => {
      const node = startBedsNode({
        id: `chaos-${label}`,
        configDir: path.join(runDirectory, `config-${label}`),
        logFile: path.join(runDirectory, `node-${label}.log`),
        markerEnv: lab.markerEnv
      })
      nodes[index] = node
      return node
    }
    const labels = ["a", "b"]
    for (const label of labels) await configure(label)
    await lab.rabbit.addVhost(vhost)
    cleanups.add(`delete vhost ${vhost}`, () => lab.rabbit.deleteVhost(vhost))

    cleanups.add("stop the BEDS nodes", () => Promise.all(nodes.map((node) => node.stop(20_000))))
    await Promise.all(labels.map((label, index) => launch(index, label).serving(NODE_BOOT_MS)))

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
      restartNode: (index) => launch(index, labels[index]!).serving(NODE_BOOT_MS),
      startNode: async (label) => {
        await configure(label)
        const node = launch(nodes.length, label)
        await node.serving(NODE_BOOT_MS)
        return node
      },
      now
    }
    // The load goes on while the fault lasts and `tailMs` after it, so recovery happens under load.
    let window: FaultWindow | undefined
    let faultOver = fault.inject === undefined
    const progress: LoadProgress = { sent: 0 }
    const load = driveLoad(client, {
      template: CHAOS_TEMPLATE,
      keyPrefix,
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
    // This run's rows only: its keys, and only they, start with its prefix (no LIKE wildcards in it).
    const counted = await lab.mariadb.query<Array<{ ledger: string; n: number }>>(
      "SELECT ledger, COUNT(*) AS n FROM chx_entries WHERE ledger LIKE ? GROUP BY ledger", [`${keyPrefix}-%`], lab.database)
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
