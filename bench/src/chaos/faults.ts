// The faults, one per run. Each says when it began and ended (the run's clock, ms) and what it saw
// that proves it happened; recovery is measured from its end.
import type { BedsNode } from "./beds-node.js"
import type { Lab } from "./lab.js"
import { exitOf, sleep } from "./processes.js"
import type { Profile } from "./profiles.js"

export interface FaultContext {
  readonly lab: Lab
  readonly vhost: string
  readonly profile: Profile
  /** The two BEDS nodes; a fault may replace one (restartNode). */
  readonly nodes: Array<BedsNode>
  /** Starts node `index` again with its config; resolves when it serves. */
  readonly restartNode: (index: number) => Promise<void>
  /** Starts one more node, `chaos-{label}`, beside the others (added to `nodes`); resolves when it serves. */
  readonly startNode: (label: string) => Promise<BedsNode>
  readonly now: () => number
}

export interface FaultWindow {
  readonly start: number
  readonly end: number
  /** What the fault saw happen, e.g. "closed 9 connections in 3 rounds". */
  readonly evidence: string
  /** False when the fault could not be shown to have happened (the run then proves nothing about it). */
  readonly applied: boolean
}

export interface Fault {
  readonly name: string
  readonly title: string
  readonly inject?: (context: FaultContext) => Promise<FaultWindow>
  /** The broker queues' type for this run's nodes (rabbitmq.queue_type); classic when not given. */
  readonly queueType?: "quorum"
  /**
   * The fault must cost no request: every one is finally answered ok (after resends, if any), and
   * none is left with an error or no answer. True of the faults that take away a node while another
   * consumes the same queues: whatever the one that left held, RabbitMQ gives to the others.
   */
  readonly everyRequestOk?: boolean
}

/** The queue whose consumers show which nodes serve (every node runs the role's wBroker pool). */
const WRITE_QUEUE = "beds.wBroker"

/** vm_memory_high_watermark as RabbitMQ ships it; the private node's config does not change it. */
const DEFAULT_WATERMARK = "0.4"

/** Whether `probe` gives `wanted` within a few tries (rabbitmqctl takes about half a second each). */
const settlesTo = async (probe: () => Promise<boolean>, wanted: boolean) => {
  for (let tries = 0; tries < 10; tries++) {
    if ((await probe()) === wanted) return true
    await sleep(250)
  }
  return false
}

export const faults: ReadonlyArray<Fault> = [
  { name: "baseline", title: "no fault (baseline)" },
  {
    name: "connection-close",
    title: "server-side connection close",
    inject: async ({ lab, vhost, profile, now }) => {
      const start = now()
      const closed: Array<number> = []
      for (let round = 0; round < profile.connectionCloses; round++) {
        if (round > 0) await sleep(profile.connectionCloseSpacingMs)
        // Every connection of the run: both nodes', the client's and the queue monitor's.
        closed.push(await lab.rabbit.closeConnections(vhost, "chaos: connection closed on purpose"))
      }
      return {
        start,
        end: now(),
        evidence: `closed ${closed.join(" + ")} connections in ${closed.length} rounds`,
        applied: closed.every((count) => count > 0)
      }
    }
  },
  {
    name: "rabbitmq-stop-start",
    title: "RabbitMQ stop_app / start_app",
    inject: async ({ lab, profile, now }) => {
      const start = now()
      await lab.rabbit.ctl(["stop_app"])
      await sleep(profile.rabbitDownMs)
      await lab.rabbit.ctl(["start_app"])
      return { start, end: now(), evidence: `rabbit app stopped ${profile.rabbitDownMs} ms, then started`, applied: true }
    }
  },
  {
    name: "mariadb-kill",
    title: "MariaDB SIGKILL, restart",
    inject: async ({ lab, profile, now }) => {
      const start = now()
      await lab.mariadb.kill()
      await sleep(profile.mariadbDownMs)
      await lab.mariadb.restart()
      return { start, end: now(), evidence: `mariadbd SIGKILLed, down ${profile.mariadbDownMs} ms, accepting queries again`, applied: true }
    }
  },
  {
    name: "node-kill",
    title: "BEDS node SIGKILL (of two consuming)",
    everyRequestOk: true,
    inject: async ({ nodes, now }) => {
      const victim = nodes[0]!
      const start = now()
      victim.child.kill("SIGKILL")
      const exit = await exitOf(victim.child)
      // The fault is the kill itself; the survivor serves alone for the rest of the run.
      return { start, end: start, evidence: `node ${victim.id} exited by ${exit}; ${nodes[1]!.id} serves alone`, applied: exit === "SIGKILL" }
    }
  },
  {
    name: "node-term",
    title: "BEDS node SIGTERM, started again",
    everyRequestOk: true,
    inject: async ({ nodes, restartNode, now }) => {
      const victim = nodes[0]!
      const start = now()
      victim.child.kill("SIGTERM")
      const exit = await exitOf(victim.child)
      const exitedAt = now()
      await restartNode(0)
      return {
        start,
        end: now(),
        evidence: `node ${victim.id} exited ${exit} after ${Math.round(exitedAt - start)} ms; serving again after ${Math.round(now() - start)} ms`,
        applied: exit === 0
      }
    }
  },
  {
    // A rolling upgrade of one node: its successor (the same build under a node id of its own,
    // chaos-a2; a new version would be another dist, consuming the same queues the same way) starts
    // and serves beside it, then the old node is drained with SIGTERM and must exit 0. On quorum
    // queues, the layout docs/scaling.md recommends for a cluster.
    name: "node-swap",
    title: "BEDS node hot swap (successor up, old one SIGTERMed), quorum queues",
    queueType: "quorum",
    everyRequestOk: true,
    inject: async ({ lab, vhost, nodes, startNode, now }) => {
      const old = nodes[0]!
      const start = now()
      // rabbitmqctl takes a second under load: asked beside the boot, not after it.
      const [successor, queueType] = await Promise.all([startNode("a2"), lab.rabbit.queueTypes(vhost).then((types) => types[WRITE_QUEUE])])
      const servingAt = now()
      // Consumers per node, from its connections' channels (`beds {id} appServer`; the client is left out).
      const perNode: Record<string, number> = {}
      for (const [name, count] of Object.entries(await lab.rabbit.consumersByConnection(vhost))) {
        const id = /^beds (\S+) appServer/.exec(name)?.[1]
        if (id !== undefined) perNode[id] = (perNode[id] ?? 0) + count
      }
      old.child.kill("SIGTERM")
      const exit = await exitOf(old.child)
      const consumers = Object.entries(perNode).sort().map(([id, count]) => `${id} ${count}`).join(", ")
      return {
        start,
        end: now(),
        evidence: `${WRITE_QUEUE} is a ${queueType} queue; ${successor.id} serving after ${Math.round(servingAt - start)} ms ` +
          `(consumers per node: ${consumers}); ${old.id} SIGTERMed, exited ${exit} after ${Math.round(now() - servingAt)} ms`,
        applied: exit === 0 && queueType === "quorum" && (perNode[successor.id] ?? 0) > 0 && (perNode[old.id] ?? 0) > 0
      }
    }
  },
  {
    name: "memory-alarm",
    title: "RabbitMQ memory alarm (publishers blocked), lifted",
    inject: async ({ lab, profile, now }) => {
      const alarmed = () => lab.rabbit.ctl(["status"]).then((status) => /Memory alarm on node/.test(status))
      const start = now()
      await lab.rabbit.ctl(["set_vm_memory_high_watermark", "0.0000001"])
      const raised = await settlesTo(alarmed, true)
      await sleep(profile.alarmMs)
      await lab.rabbit.ctl(["set_vm_memory_high_watermark", DEFAULT_WATERMARK])
      const cleared = await settlesTo(alarmed, false)
      return {
        start,
        end: now(),
        evidence: `memory alarm ${raised ? "raised" : "NOT seen in rabbitmqctl status"}, held ${profile.alarmMs} ms, ` +
          `watermark back to ${DEFAULT_WATERMARK}, alarm ${cleared ? "cleared" : "NOT cleared"}`,
        applied: raised && cleared
      }
    }
  }
]
