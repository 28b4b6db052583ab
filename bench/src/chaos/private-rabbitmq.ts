// A private RabbitMQ node for the chaos suite: its own node name, AMQP, distribution and epmd ports
// (free ones, on 127.0.0.1), its own config, plugins file, Erlang cookie, data and log directories,
// so that faults can stop, block and restart it without touching the machine's node (5672).
// Managed with `rabbitmqctl -n NAME`, run without the Debian wrapper (which switches to the
// rabbitmq user and its cookie) and with HOME set to the lab's own directory.
import { randomBytes } from "node:crypto"
import { existsSync } from "node:fs"
import { chmod, mkdir, writeFile } from "node:fs/promises"
import path from "node:path"
import { freePort, isListening } from "../../../scripts/local-services.mjs"
import { command, exitWithin, hasExited, spawnLogged, tail, waitUntil } from "./processes.js"

export interface PrivateRabbitMq {
  readonly nodeName: string
  readonly port: number
  readonly distPort: number
  readonly epmdPort: number
  /** `rabbitmqctl -n NAME ...args` against this node only. */
  readonly ctl: (args: ReadonlyArray<string>, timeoutMs?: number) => Promise<string>
  /** The command an operator would type to reach this node (for logs and docs). */
  readonly ctlCommand: string
  readonly addVhost: (vhost: string) => Promise<void>
  readonly deleteVhost: (vhost: string) => Promise<void>
  /** Closes every client connection in `vhost` from the server side; resolves with how many it closed. */
  readonly closeConnections: (vhost: string, reason: string) => Promise<number>
  /** Messages (ready + unacknowledged) per queue of `vhost`. */
  readonly queueDepths: (vhost: string) => Promise<Record<string, number>>
  /** The type (classic, quorum) of each queue of `vhost`. */
  readonly queueTypes: (vhost: string) => Promise<Record<string, string>>
  /**
   * Consumers now, per client connection name (BEDS names its connections `beds {node id} {role}`),
   * summed over the connection's channels in `vhost`. From the channels, not the queues: a quorum
   * queue's own consumer count is a statistic updated every few seconds.
   */
  readonly consumersByConnection: (vhost: string) => Promise<Record<string, number>>
  readonly stop: () => Promise<void>
}

/** Where the RabbitMQ scripts live: CHAOS_RABBITMQ_SBIN, else Debian's unwrapped scripts. */
const scriptsDirectory = () => {
  const candidates = [process.env["CHAOS_RABBITMQ_SBIN"], "/usr/lib/rabbitmq/bin", "/usr/local/sbin", "/usr/sbin"]
  for (const candidate of candidates) {
    if (candidate !== undefined && existsSync(path.join(candidate, "rabbitmq-server")) && existsSync(path.join(candidate, "rabbitmqctl"))) {
      return candidate
    }
  }
  throw new Error(
    "cannot start a private RabbitMQ node: no rabbitmq-server and rabbitmqctl found in /usr/lib/rabbitmq/bin, /usr/local/sbin or /usr/sbin " +
      "(set CHAOS_RABBITMQ_SBIN to the directory holding them)"
  )
}

export const startPrivateRabbitMq = async (options: { readonly directory: string; readonly markerEnv: Record<string, string> }): Promise<PrivateRabbitMq> => {
  const sbin = scriptsDirectory()
  const home = path.join(options.directory, "home")
  const base = options.directory
  await mkdir(home, { recursive: true })
  const nodeName = `beds_chaos_${randomBytes(3).toString("hex")}@localhost`
  const port = await freePort()
  const distPort = await freePort()
  const epmdPort = await freePort()

  await writeFile(path.join(base, "rabbitmq.conf"), [
    `listeners.tcp.default = 127.0.0.1:${port}`,
    "loopback_users.guest = true", // guest/guest, from 127.0.0.1 only (the default, said out loud)
    ""
  ].join("\n"))
  await writeFile(path.join(base, "advanced.config"), "[].\n")
  await writeFile(path.join(base, "enabled_plugins"), "[].\n") // no management or prometheus listener
  await writeFile(path.join(base, "rabbitmq-env.conf"), "# the lab's own: the machine's /etc/rabbitmq/rabbitmq-env.conf is not read\n")
  const cookie = path.join(home, ".erlang.cookie")
  await writeFile(cookie, randomBytes(20).toString("hex").toUpperCase())
  await chmod(cookie, 0o400)

  const env: NodeJS.ProcessEnv = {
    PATH: process.env["PATH"] ?? "/usr/bin:/bin",
    LANG: "C.UTF-8",
    HOME: home,
    ...options.markerEnv,
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_USE_LONGNAME: "false",
    RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: "127.0.0.1",
    RABBITMQ_MNESIA_BASE: path.join(base, "mnesia"),
    RABBITMQ_LOG_BASE: path.join(base, "log"),
    RABBITMQ_PID_FILE: path.join(base, "rabbitmq.pid"),
    RABBITMQ_CONFIG_FILE: path.join(base, "rabbitmq.conf"),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(base, "advanced.config"),
    RABBITMQ_CONF_ENV_FILE: path.join(base, "rabbitmq-env.conf"),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(base, "enabled_plugins"),
    RABBITMQ_PLUGINS_EXPAND_DIR: path.join(base, "plugins-expand"),
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}"
  }
  const ctlPath = path.join(sbin, "rabbitmqctl")
  // Each rabbitmqctl boots an Erlang VM (about 0.3 s of CPU); under a load that keeps both cores
  // busy that took seconds, and faults ran late. As root the CLI runs at a higher priority (nice
  // -10) so that a fault happens when the run says; the node and the load are left as they are.
  const prefix = process.getuid?.() === 0 ? ["nice", "-n", "-10"] : []
  const ctl = (args: ReadonlyArray<string>, timeoutMs = 60_000) =>
    prefix.length > 0
      ? command(prefix[0]!, [...prefix.slice(1), ctlPath, "-n", nodeName, ...args], env, timeoutMs)
      : command(ctlPath, ["-n", nodeName, ...args], env, timeoutMs)
  const logFile = path.join(base, "server.log")
  const child = spawnLogged(path.join(sbin, "rabbitmq-server"), [], { env, cwd: base, logFile })
  const why = async () =>
    `cannot start a private RabbitMQ node (${nodeName}, AMQP 127.0.0.1:${port}, dist ${distPort}, epmd ${epmdPort}): ` +
    (hasExited(child) ? `rabbitmq-server exited with ${child.exitCode ?? child.signalCode}` : "not listening within 90 s") +
    `\n${await tail(logFile)}`
  await waitUntil(() => isListening(port), { timeoutMs: 90_000, describe: why, intervalMs: 200, gaveUp: () => hasExited(child) })
    .catch((error: unknown) => {
      child.kill("SIGKILL")
      throw error
    })
  await ctl(["await_startup", "--timeout", "60"], 70_000)

  const stop = async () => {
    if (!hasExited(child)) {
      await ctl(["stop"], 30_000).catch(() => child.kill("SIGKILL"))
      await exitWithin(child, 15_000)
    }
    // The epmd the node started on the lab's port; the lab's final sweep kills it if this fails.
    await command("epmd", ["-port", String(epmdPort), "-kill"], env, 10_000).catch(() => undefined)
  }

  /** `list_queues` of `vhost`: per queue, its name and then `columns`, as rabbitmqctl prints them. */
  const listQueues = async (vhost: string, columns: ReadonlyArray<string>) => {
    const listing = await ctl(["list_queues", "-p", vhost, "-q", "--no-table-headers", "name", ...columns])
    return listing.split("\n").filter((line) => line.includes("\t")).map((line) => line.split("\t"))
  }

  return {
    nodeName,
    port,
    distPort,
    epmdPort,
    ctl,
    ctlCommand: `HOME=${home} ERL_EPMD_PORT=${epmdPort} ${ctlPath} -n ${nodeName}`,
    addVhost: async (vhost) => {
      await ctl(["add_vhost", vhost])
      await ctl(["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"])
    },
    deleteVhost: async (vhost) => {
      await ctl(["delete_vhost", vhost])
    },
    closeConnections: async (vhost, reason) => {
      // close_connection for every connection of the vhost, in one rabbitmqctl call (one Erlang VM
      // instead of one per connection), so that they drop together. It prints "Closed N connections".
      const output = await ctl(["close_all_connections", "--vhost", vhost, reason])
      return Number(/Closed (\d+) connection/.exec(output)?.[1] ?? 0)
    },
    queueDepths: async (vhost) => Object.fromEntries((await listQueues(vhost, ["messages"])).map(([name, messages]) => [name!, Number(messages)])),
    queueTypes: async (vhost) => Object.fromEntries((await listQueues(vhost, ["type"])).map(([name, type]) => [name!, type!])),
    consumersByConnection: async (vhost) => {
      const rows = async (what: string, columns: ReadonlyArray<string>) =>
        (await ctl([what, "-q", "--no-table-headers", "vhost", ...columns])).split("\n")
          .map((line) => line.split("\t")).filter((row) => row.length === columns.length + 1 && row[0] === vhost)
      // A channel's name is its connection's name and " (channel number)".
      const [connections, channels] = await Promise.all([
        rows("list_connections", ["name", "client_properties"]),
        rows("list_channels", ["name", "consumer_count"])
      ])
      const connectionNames = new Map(connections.map(([, name, properties]) => [name!, /"connection_name","([^"]*)"/.exec(properties!)?.[1] ?? name!]))
      const consumers: Record<string, number> = {}
      for (const [, channel, count] of channels) {
        const connection = connectionNames.get(channel!.replace(/ \(\d+\)$/, "")) ?? channel!
        consumers[connection] = (consumers[connection] ?? 0) + Number(count)
      }
      return consumers
    },
    stop
  }
}
