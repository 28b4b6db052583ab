// `npm run up`: brings one dev node up on this machine's defaults. RabbitMQ and MariaDB are the
// machine's own (started if down); jongodb and dynalite are started here and stopped on exit.
// The node runs in the foreground; Ctrl-C (SIGINT) or SIGTERM stops it and everything started here.
import { execFileSync, spawn } from "node:child_process"
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs"
import path from "node:path"
import mysql from "mysql2/promise"
import { parse } from "smol-toml"
import { isListening, startDynalite, startJongodb } from "./local-services.mjs"

const root = path.resolve(import.meta.dirname, "..")
const envFile = path.join(root, "config", "env_dev.toml")

execFileSync("bash", [path.join(root, "scripts", "ensure-services.sh")], { stdio: "inherit" })

if (!existsSync(envFile)) {
  copyFileSync(`${envFile}.example`, envFile)
  console.log(`up: wrote ${path.relative(root, envFile)} from its .example (edit it to point elsewhere)`)
}
const dev = parse(readFileSync(envFile, "utf8"))

// The dev database is ours to create; the schema objects in it come from the DBA's schema files.
const master = dev.mariadb?.master ?? {}
if (master.database && /^[A-Za-z_][A-Za-z0-9_]*$/.test(master.database)) {
  const connection = await mysql.createConnection({ host: master.host ?? "127.0.0.1", port: master.port ?? 3306, user: master.username ?? "root", password: master.password ?? "" })
  await connection.query(`CREATE DATABASE IF NOT EXISTS \`${master.database}\``)
  await connection.end()
}

const sharedDir = path.resolve(root, dev.shared_fs?.path ?? "var/shared")
mkdirSync(sharedDir, { recursive: true })

// Prefer the ports env_dev.toml.example names; fall back to free ones if something holds them.
const mongo = await startJongodb({ port: (await isListening(27017)) ? undefined : 27017 })
const dynamo = await startDynalite({ port: (await isListening(8000)) ? undefined : 8000 })
console.log(`up: jongodb at ${mongo.uri}, dynalite at ${dynamo.endpoint}`)

const env = {
  ...process.env,
  BEDS_ENV: "dev",
  BEDS_MONGODB__URI: mongo.uri,
  BEDS_DYNAMODB__ENDPOINT: dynamo.endpoint,
  BEDS_SHARED_FS__PATH: sharedDir
}
// The DBA's objects for the shipped templates (idempotent), then the node. Not execFileSync: dynalite
// runs in this process and must keep answering while the apply runs.
const applied = await new Promise((resolve) =>
  spawn(process.execPath, [path.join(root, "dist", "schema-apply.js")], { cwd: root, stdio: "inherit", env }).once("exit", resolve))
if (applied !== 0) {
  await Promise.all([mongo.stop(), dynamo.stop()])
  process.exit(1)
}
const node = spawn(process.execPath, [path.join(root, "dist", "main.js")], { cwd: root, stdio: "inherit", env })
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => node.kill(signal))
node.once("exit", async (code, signal) => {
  await Promise.all([mongo.stop(), dynamo.stop()])
  process.exit(code ?? (signal ? 0 : 1))
})
