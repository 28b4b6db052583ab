// RabbitMQ administration for the tests and `npm run up`: vhosts, connection closes, queue types.
// Two routes, whichever this user has: the management HTTP API on 127.0.0.1:15672 (guest, from
// localhost; ensure-services.sh enables it for a user who is not root), or rabbitmqctl, which
// Debian lets only root (or the rabbitmq user) run. Plain JavaScript so it runs before anything is
// built.
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import path from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)
const API = "http://127.0.0.1:15672/api"
const GUEST = `Basic ${Buffer.from("guest:guest").toString("base64")}`
// Debian puts rabbitmqctl in /usr/sbin, which a normal user's PATH often lacks.
const CTL_ENV = { ...process.env, PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` }

/** What a user without either route is told, in one line. */
export const NO_ROUTE =
  "RabbitMQ administration (a vhost per test run, closing connections on purpose) needs the management API on " +
  "127.0.0.1:15672 or rabbitmqctl as root; neither is open to this user: run `npm run up` or `bash scripts/ensure-services.sh` " +
  "once (it enables the management plugin, with sudo)"

const api = async (method, path, body) => {
  const response = await fetch(`${API}${path}`, {
    method,
    headers: { authorization: GUEST, "content-type": "application/json", "x-reason": "beds test: closed on purpose" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000)
  })
  if (!response.ok && response.status !== 404) {
    throw new Error(`RabbitMQ management API: ${method} ${path}: ${response.status} ${await response.text()}`)
  }
  return response
}

const ctl = async (...args) => (await run("rabbitmqctl", args, { env: CTL_ENV })).stdout

const apiAnswers = () =>
  fetch(`${API}/overview`, { headers: { authorization: GUEST }, signal: AbortSignal.timeout(3_000) }).then((r) => r.ok, () => false)

// Debian's rabbitmqctl refuses anyone but root and rabbitmq; as root, being installed is enough.
const ctlRuns = () =>
  process.getuid?.() === 0 && CTL_ENV.PATH.split(":").some((dir) => dir !== "" && existsSync(path.join(dir, "rabbitmqctl")))

let chosen
/** "api" or "rabbitmqctl", whichever this user has (the API when both); fails with NO_ROUTE. */
export const rabbitAdminRoute = () =>
  (chosen ??= (async () => {
    if (await apiAnswers()) return "api"
    if (ctlRuns()) return "rabbitmqctl"
    throw new Error(NO_ROUTE)
  })().catch((error) => {
    chosen = undefined
    throw error
  }))

const vhostPath = (name) => encodeURIComponent(name)

/** Creates vhost `name` with every permission for guest; resolves with the function that deletes it. */
export const addVhost = async (name) => {
  if ((await rabbitAdminRoute()) === "api") {
    await api("PUT", `/vhosts/${vhostPath(name)}`)
    await api("PUT", `/permissions/${vhostPath(name)}/guest`, { configure: ".*", write: ".*", read: ".*" })
    return () => api("DELETE", `/vhosts/${vhostPath(name)}`).then(() => undefined)
  }
  await ctl("add_vhost", name)
  await ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
  return () => ctl("delete_vhost", name).then(() => undefined)
}

/** Makes vhost `name` exist (kept afterwards) with every permission for guest; says whether it was made now. */
export const ensureVhost = async (name) => {
  const exists = (await rabbitAdminRoute()) === "api"
    ? (await api("GET", `/vhosts/${vhostPath(name)}`)).ok
    : (await ctl("list_vhosts", "-q", "--no-table-headers", "name")).split("\n").includes(name)
  if (!exists) await addVhost(name)
  return !exists
}

/**
 * Closes, from the server side, every connection in `vhost` whose client-given connection_name is
 * `name`; resolves with how many it closed. The management API lists a new connection only after
 * its next statistics round (collect_statistics_interval) and may still list one just closed, so
 * on that route this asks again until it has closed at least one (10 s at most).
 */
export const closeConnectionsNamed = async (vhost, name) => {
  if ((await rabbitAdminRoute()) === "rabbitmqctl") {
    // The table output gives pids in the form close_connection accepts (<rabbit@host.N.N.N>).
    const stdout = await ctl("list_connections", "-q", "--no-table-headers", "pid", "vhost", "client_properties")
    const matching = stdout.split("\n")
      .map((line) => line.split("\t"))
      .filter(([, lineVhost, properties]) => lineVhost === vhost && properties?.includes(`{"connection_name","${name}"}`))
    for (const [pid] of matching) await ctl("close_connection", pid, "test: closed on purpose")
    return matching.length
  }
  const deadline = Date.now() + 10_000
  for (;;) {
    const listed = await (await api("GET", `/vhosts/${vhostPath(vhost)}/connections?columns=name,client_properties`)).json()
    let closed = 0
    for (const connection of Array.isArray(listed) ? listed : []) {
      if (connection.client_properties?.connection_name !== name) continue
      // 404: it had closed already (a listing lags behind); only a live one counts.
      if ((await api("DELETE", `/connections/${encodeURIComponent(connection.name)}`)).status !== 404) closed++
    }
    if (closed > 0 || Date.now() > deadline) return closed
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** The queues of `vhost`, name -> type (classic, quorum, stream). */
export const queueTypes = async (vhost) => {
  if ((await rabbitAdminRoute()) === "api") {
    const listed = await (await api("GET", `/queues/${vhostPath(vhost)}?columns=name,type`)).json()
    return Object.fromEntries(listed.map((queue) => [queue.name, queue.type]))
  }
  const stdout = await ctl("list_queues", "-q", "--no-table-headers", "-p", vhost, "name", "type")
  return Object.fromEntries(stdout.trim().split("\n").filter(Boolean).map((line) => line.split("\t")))
}
