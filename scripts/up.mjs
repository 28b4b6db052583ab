// `npm run up`: brings one dev node up on this machine (README: Two commands). In order:
//   1. RabbitMQ and MariaDB up, RabbitMQ administration open to this user (ensure-services.sh);
//   2. config/env_dev.toml written from its .example if missing;
//   3. on a local RabbitMQ, the dev vhost (beds_dev); on a local MariaDB, the dev database and the
//      node's own account (beds_node): its password generated into env_dev.toml (never printed),
//      its privileges exactly those nodeGrantStatements (src/schema/node-grants.ts) gives;
//   4. jongodb and dynalite started here (27017 and 8000, or free ports), the schema applied (as
//      the MariaDB admin account), and `node dist/main.js` in the foreground as the node's account.
// Ctrl-C (SIGINT) or SIGTERM stops the node, which logs its shutdown, then the stand-ins.
import { execFileSync, spawn } from "node:child_process"
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import path from "node:path"
import { pathToFileURL } from "node:url"
import { parse } from "smol-toml"
import { isListening, startDynalite, startJongodb } from "./local-services.mjs"
import { adminAccount, createDatabase, generatePassword, setNodeAccount } from "./mariadb-admin.mjs"
import { ensureVhost } from "./rabbit-admin.mjs"

const root = path.resolve(import.meta.dirname, "..")
const envFile = path.join(root, "config", "env_dev.toml")
const shown = path.relative(root, envFile)
const isLocal = (host) => host === "127.0.0.1" || host === "localhost"

execFileSync("bash", [path.join(root, "scripts", "ensure-services.sh")], { stdio: "inherit" })

if (!existsSync(envFile)) {
  copyFileSync(`${envFile}.example`, envFile)
  console.log(`up: wrote ${shown} from its .example (edit it to point elsewhere)`)
}
const base = parse(readFileSync(path.join(root, "config", "beds.toml"), "utf8"))
let dev = parse(readFileSync(envFile, "utf8"))
const rabbitmq = { ...base.rabbitmq, ...dev.rabbitmq }
let master = { ...base.mariadb?.master, ...dev.mariadb?.master }

if (isLocal(rabbitmq.host) && rabbitmq.vhost && rabbitmq.vhost !== "/") {
  if (await ensureVhost(rabbitmq.vhost)) console.log(`up: made RabbitMQ vhost ${rabbitmq.vhost} (guest may use it)`)
}

/** env_dev.toml with [mariadb.master] username and password set; the rest of the file as it was. */
const withNodeAccount = (text, username, password) => {
  const lines = text.split("\n")
  const entry = (key, value) => `${key} = ${JSON.stringify(value)}`
  const start = lines.findIndex((line) => /^\s*\[\s*mariadb\.master\s*\]/.test(line))
  if (start < 0) return `${text.replace(/\n*$/, "\n")}\n[mariadb.master]\n${entry("username", username)}\n${entry("password", password)}\n`
  let end = lines.findIndex((line, i) => i > start && /^\s*\[/.test(line))
  if (end < 0) end = lines.length
  for (const [key, value] of [["password", password], ["username", username]]) {
    const at = lines.findIndex((line, i) => i > start && i < end && new RegExp(`^\\s*${key}\\s*=`).test(line))
    if (at >= 0) lines[at] = entry(key, value)
    else lines.splice(start + 1, 0, entry(key, value)), end++
  }
  return lines.join("\n")
}

// The node never runs as MariaDB's root: an old env_dev.toml that says root (or has no password)
// gets the node's own account, with a generated password.
let admin
if (isLocal(master.host)) {
  admin = await adminAccount()
  await createDatabase(master.database)
  if (!master.username || master.username === "root" || !master.password) {
    const username = master.username && master.username !== "root" ? master.username : "beds_node"
    const updated = withNodeAccount(readFileSync(envFile, "utf8"), username, generatePassword())
    dev = parse(updated)
    if (dev.mariadb?.master?.username !== username) throw new Error(`up: could not set [mariadb.master] in ${shown}; set username and password there`)
    writeFileSync(envFile, updated)
    chmodSync(envFile, 0o600)
    master = { ...base.mariadb?.master, ...dev.mariadb?.master }
    console.log(`up: ${shown}: the node connects to MariaDB as ${username}; its password was generated into the file (mode 600)`)
  }
}

const sharedDir = path.resolve(root, dev.shared_fs?.path ?? "var/shared")
mkdirSync(sharedDir, { recursive: true })

// Prefer the ports env_dev.toml.example names; fall back to free ones if something holds them.
const mongo = await startJongodb({ ownGroup: true, port: (await isListening(27017)) ? undefined : 27017 })
const dynamo = await startDynalite({ port: (await isListening(8000)) ? undefined : 8000 })
console.log(`up: jongodb at ${mongo.uri}, dynalite at ${dynamo.endpoint}`)
const stopStandIns = () => Promise.all([mongo.stop(), dynamo.stop()])

const env = {
  ...process.env,
  BEDS_ENV: "dev",
  BEDS_MONGODB__URI: mongo.uri,
  BEDS_DYNAMODB__ENDPOINT: dynamo.endpoint,
  BEDS_SHARED_FS__PATH: sharedDir
}
const runNode = (script, extra = {}, options = {}) =>
  spawn(process.execPath, [path.join(root, "dist", script)], { cwd: root, stdio: "inherit", env: { ...env, ...extra }, ...options })

try {
  // The DBA's objects, as the admin account (the node's own cannot create them). Not execFileSync:
  // dynalite runs in this process and must keep answering while the apply runs.
  const asAdmin = admin === undefined ? {} : { BEDS_MARIADB__MASTER__USERNAME: admin.user, BEDS_MARIADB__MASTER__PASSWORD: admin.password }
  const applied = await new Promise((resolve) => runNode("schema-apply.js", asAdmin).once("exit", resolve))
  if (applied !== 0) throw new Error("up: schema apply failed (see above)")

  if (isLocal(master.host)) {
    const { Effect } = await import("effect")
    const { NodeContext } = await import("@effect/platform-node")
    const { nodeGrantStatementsFor } = await import(pathToFileURL(path.join(root, "dist", "schema", "node-grants.js")).href)
    const templates = path.resolve(root, dev.templates?.directory ?? base.templates?.directory ?? "templates")
    const grants = await Effect.runPromise(nodeGrantStatementsFor(master.database, templates).pipe(Effect.provide(NodeContext.layer)))
    await setNodeAccount(master.username, master.password, grants)
    console.log(`up: MariaDB account ${master.username}@127.0.0.1 holds ${grants.length} grants on ${master.database} (the templates' procedures and views, BEDS's own stores) and nothing else`)
  }
} catch (error) {
  await stopStandIns()
  console.error(error instanceof Error ? error.message : error)
  process.exit(1)
}

// The node runs in a process group of its own, so that it gets exactly one signal: the one this
// script passes on. Ctrl-C on a terminal signals the whole foreground group, and a node signalled
// twice (the group's SIGINT, then ours) ends at once without its shutdown (NodeRuntime.runMain
// handles only the first signal).
const node = runNode("main.js", {}, { detached: true })
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    console.log(`up: ${signal}: stopping the node, then jongodb and dynalite`)
    node.kill(signal === "SIGHUP" ? "SIGTERM" : signal)
  })
}
node.once("exit", async (code, signal) => {
  await stopStandIns()
  console.log(`up: node exited (${code ?? signal}); jongodb and dynalite stopped`)
  process.exit(code ?? (signal ? 0 : 1))
})
