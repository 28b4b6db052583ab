// MariaDB administration for `npm run up` and the tests: an account that may create BEDS's databases
// (matching beds_%) and the node's least-privilege accounts. The first that works of:
//   1. root over TCP with an empty password (machines set up that way, such as CI's);
//   2. beds_admin@127.0.0.1, with the password this user's earlier set-up kept in
//      ~/.config/beds/mariadb-admin.json (mode 600);
//   3. making beds_admin now: a fresh password goes on stdin to scripts/root-setup.sh, which uses
//      root's unix socket (stock Debian: root logs in only that way, only as the OS root user), run
//      directly as root or through sudo.
// Plain JavaScript so it runs before anything is built. Passwords are never printed.
import { spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import path from "node:path"
import mysql from "mysql2/promise"

const HOST = "127.0.0.1"
const PORT = 3306
const here = import.meta.dirname
const credentialsFile = path.join(process.env.XDG_CONFIG_HOME || path.join(homedir(), ".config"), "beds", "mariadb-admin.json")

/** A password of 32 URL-safe characters (safe inside SQL and TOML strings as they are). */
export const generatePassword = () => randomBytes(24).toString("base64url")

const works = async (account) => {
  try {
    const connection = await mysql.createConnection({ host: HOST, port: PORT, ...account, connectTimeout: 5_000 })
    await connection.end()
    return true
  } catch (error) {
    // Access denied is an answer; anything else (server down, ...) is a real failure.
    if (error?.errno === 1045 || error?.errno === 1698) return false
    throw error
  }
}

const saved = () => {
  try {
    const { user, password } = JSON.parse(readFileSync(credentialsFile, "utf8"))
    return typeof user === "string" && typeof password === "string" ? { user, password } : undefined
  } catch {
    return undefined
  }
}

const makeAdminAccount = () => {
  const password = generatePassword()
  const asRoot = process.getuid?.() === 0
  const command = asRoot ? "bash" : "sudo"
  const args = [...(asRoot ? [] : ["bash"]), path.join(here, "root-setup.sh"), "mariadb-admin"]
  console.log(`mariadb: root cannot log in over TCP without a password here; creating the BEDS admin account beds_admin through root's unix socket${asRoot ? "" : " (sudo)"}`)
  const result = spawnSync(command, args, { input: `${password}\n`, stdio: ["pipe", "inherit", "inherit"] })
  if (result.error?.code === "ENOENT") {
    throw new Error(`mariadb: this user cannot reach MariaDB's root (not root, and sudo is not installed); as root, run once: echo <password> | bash ${path.join(here, "root-setup.sh")} mariadb-admin`)
  }
  if (result.status !== 0) throw new Error("mariadb: could not create the BEDS admin account (see above)")
  mkdirSync(path.dirname(credentialsFile), { recursive: true, mode: 0o700 })
  writeFileSync(credentialsFile, JSON.stringify({ user: "beds_admin", password }) + "\n", { mode: 0o600 })
  return { user: "beds_admin", password }
}

let resolved
/** The administrative account to use: { host, port, user, password }. */
export const adminAccount = () =>
  (resolved ??= (async () => {
    const root = { user: "root", password: "" }
    if (await works(root)) return { host: HOST, port: PORT, ...root }
    const kept = saved()
    if (kept !== undefined && (await works(kept))) return { host: HOST, port: PORT, ...kept }
    return { host: HOST, port: PORT, ...makeAdminAccount() }
  })().catch((error) => {
    resolved = undefined
    throw error
  }))

/** Runs `use` on a connection of the administrative account, closing it afterwards. */
export const withAdmin = async (use) => {
  const connection = await mysql.createConnection({ ...(await adminAccount()), multipleStatements: false })
  try {
    return await use(connection)
  } finally {
    await connection.end()
  }
}

const checkedName = (name, what) => {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not a ${what} name: ${name}`)
  return name
}

/** Creates database `name` (matching `beds_%`) unless it exists. */
export const createDatabase = (name) => withAdmin((db) => db.query(`CREATE DATABASE IF NOT EXISTS \`${checkedName(name, "database")}\``))

/** Drops database `name`. */
export const dropDatabase = (name) => withAdmin((db) => db.query(`DROP DATABASE IF EXISTS \`${checkedName(name, "database")}\``))

/**
 * Makes `user`@127.0.0.1 exist with `password` and hold exactly `grants` (statements of the form
 * `GRANT ... TO ?@?`, from nodeGrantStatements in src/schema/node-grants.ts): whatever it held
 * before is revoked first.
 */
export const setNodeAccount = (user, password, grants) =>
  withAdmin(async (db) => {
    const account = [checkedName(user, "user"), HOST]
    await db.query("CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?", [...account, password])
    await db.query("ALTER USER ?@? IDENTIFIED BY ?", [...account, password])
    await db.query("REVOKE ALL PRIVILEGES, GRANT OPTION FROM ?@?", account)
    for (const grant of grants) await db.query(grant, account)
  })

/** Removes `user`@127.0.0.1 and every privilege it held. */
export const dropNodeAccount = (user) => withAdmin((db) => db.query("DROP USER IF EXISTS ?@?", [checkedName(user, "user"), HOST]))
