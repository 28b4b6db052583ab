// Builds BEDS the way deploy/Containerfile does (same commands, on this machine, with the LTS Node
// of .ci/lts-node.sh), lays the result out as the image's /opt/beds (owned by root, read-only), and
// boots it in prod with `--check` as an unprivileged user, with the root filesystem mounted
// read-only but for the shared directory, against a vhost, database, jongodb and dynalite of its
// own. Exit 0 when every IPL step passed. Needs root (mount namespace), RabbitMQ and MariaDB.
//   node deploy/check-install.mjs
import { execFileSync, spawn } from "node:child_process"
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import path from "node:path"
import { startIsolatedServices } from "../scripts/local-services.mjs"

const root = path.resolve(import.meta.dirname, "..")
const ltsBin = execFileSync("bash", [path.join(root, ".ci", "lts-node.sh")], { encoding: "utf8" }).trim()
const env = { ...process.env, PATH: `${ltsBin}:${process.env.PATH}` }
const sh = (cwd, command, args, extra = {}) => execFileSync(command, args, { cwd, env, stdio: "inherit", ...extra })
// Once dynalite runs (in this process), children are awaited, never run synchronously.
const run = (cwd, command, args, extra) =>
  new Promise((resolve, reject) =>
    spawn(command, args, { cwd, stdio: "inherit", ...extra }).once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} ${args.join(" ")}: exit ${code}`))))
const npmInstall = ["install", "--no-save", "--no-audit", "--no-fund", "--ignore-scripts"]

const work = mkdtempSync("/var/tmp/beds-install-")
chmodSync(work, 0o755)
let services
try {
  // The image's build stage.
  const src = path.join(work, "src")
  mkdirSync(path.join(src, "scripts"), { recursive: true })
  for (const file of ["package.json", "package-lock.json", "scripts/verify-lock.mjs", "tsconfig.base.json", "tsconfig.build.json"]) {
    copyFileSync(path.join(root, file), path.join(src, file))
  }
  cpSync(path.join(root, "src"), path.join(src, "src"), { recursive: true })
  sh(src, "npm", npmInstall)
  sh(src, "node", ["scripts/verify-lock.mjs"])
  sh(src, "node", ["node_modules/typescript/bin/tsc", "-p", "tsconfig.build.json"])
  const runtime = path.join(work, "runtime")
  mkdirSync(runtime)
  for (const file of ["package.json", "package-lock.json"]) copyFileSync(path.join(src, file), path.join(runtime, file))
  sh(runtime, "npm", [...npmInstall, "--omit=dev"])

  // The image's /opt/beds and its Node, read-only for everyone.
  const opt = path.join(work, "opt", "beds")
  mkdirSync(opt, { recursive: true })
  copyFileSync(path.join(src, "package.json"), path.join(opt, "package.json"))
  cpSync(path.join(runtime, "node_modules"), path.join(opt, "node_modules"), { recursive: true })
  cpSync(path.join(src, "dist"), path.join(opt, "dist"), { recursive: true })
  for (const dir of ["config", "templates", "schema"]) cpSync(path.join(root, dir), path.join(opt, dir), { recursive: true })
  mkdirSync(path.join(work, "node"))
  copyFileSync(path.join(ltsBin, "node"), path.join(work, "node", "node"))
  sh(work, "chmod", ["-R", "a-w,a+rX", opt, path.join(work, "node")])
  const shared = path.join(work, "shared")
  mkdirSync(shared)
  sh(work, "chown", ["65534:65534", shared])

  // Its own services, and a prod config for them outside the install.
  services = await startIsolatedServices("beds_install")
  const configDir = path.join(work, "etc")
  mkdirSync(configDir)
  copyFileSync(path.join(opt, "config", "beds.toml"), path.join(configDir, "beds.toml"))
  writeFileSync(path.join(configDir, "env_prod.toml"), [
    "config_version = 1",
    `[node]\nid = "installcheck"\nrole = "appServer"`,
    `[rabbitmq]\nhost = "127.0.0.1"\nusername = "guest"\nvhost = "${services.runId}"`,
    `[mariadb.master]\nhost = "127.0.0.1"\ndatabase = "${services.runId}"\nusername = "root"`,
    `[mongodb]\ndatabase = "${services.runId}"`,
    `[dynamodb]\nendpoint = "${services.dynamoEndpoint}"\naccess_key_id = "local"\nsecret_access_key = "local"`
  ].join("\n\n") + "\n")
  const nodeEnv = {
    PATH: "/usr/bin:/bin",
    BEDS_ENV: "prod",
    BEDS_CONFIG_DIR: configDir,
    BEDS_RABBITMQ__PASSWORD: "guest",
    BEDS_MARIADB__MASTER__PASSWORD: "",
    BEDS_MONGODB__URI: services.mongoUri,
    BEDS_SHARED_FS__PATH: shared
  }
  const node = path.join(work, "node", "node")
  // The DBA's objects (an operator's step), then the boot check: root read-only, shared dir writable.
  await run("/", node, [path.join(opt, "dist", "schema-apply.js")], { env: nodeEnv })
  const boot = `mount --bind "$1" "$1" && mount -o remount,bind,ro / && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$2" "$3" --check`
  await run("/", "unshare", ["-m", "--propagation", "private", "sh", "-c", boot, "sh", shared, node, path.join(opt, "dist", "main.js")], { env: nodeEnv })
  console.log("check-install: the installed tree passed its IPL in prod, read-only, as uid 65534")
} finally {
  await services?.stop()
  rmSync(work, { recursive: true, force: true })
}
