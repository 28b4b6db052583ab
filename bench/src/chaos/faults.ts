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
}

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
