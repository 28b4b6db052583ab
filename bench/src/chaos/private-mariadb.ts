// A private MariaDB instance for the chaos suite: `mariadb-install-db` into the lab's own data
// directory, `mariadbd --no-defaults` (the machine's my.cnf is not read) on a free port on
// 127.0.0.1 and its own socket, root with an empty password. Faults may SIGKILL and restart it; the
// machine's MariaDB (3306) is never touched.
import { existsSync } from "node:fs"
import { mkdir } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import type { ChildProcess } from "node:child_process"
import mysql from "mysql2/promise"
import { freePort } from "../../../scripts/local-services.mjs"
import { command, exitOf, exitWithin, hasExited, spawnLogged, tail, waitUntil } from "./processes.js"

export interface PrivateMariaDb {
  readonly port: number
  readonly socket: string
  /** One statement on a fresh connection (as root), in `database` when given. */
  readonly query: <T = unknown>(sql: string, values?: ReadonlyArray<unknown>, database?: string) => Promise<T>
  /** SIGKILLs mariadbd (no shutdown, no flush) and waits for it to be gone. */
  readonly kill: () => Promise<void>
  /** Starts mariadbd again on the same data directory and port; resolves when it accepts queries. */
  readonly restart: () => Promise<void>
  readonly stop: () => Promise<void>
}

const findBinary = (name: string, directories: ReadonlyArray<string>) => {
  for (const directory of directories) {
    const candidate = path.join(directory, name)
    if (existsSync(candidate)) return candidate
  }
  return undefined
}

export const startPrivateMariaDb = async (options: { readonly directory: string; readonly markerEnv: Record<string, string> }): Promise<PrivateMariaDb> => {
  const searchPath = [...(process.env["PATH"] ?? "").split(":"), "/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
  const installDb = findBinary("mariadb-install-db", searchPath) ?? findBinary("mysql_install_db", searchPath)
  const server = findBinary("mariadbd", searchPath) ?? findBinary("mysqld", searchPath)
  if (installDb === undefined || server === undefined) {
    throw new Error(`cannot start a private MariaDB instance: ${installDb === undefined ? "mariadb-install-db" : "mariadbd"} not found on PATH or in /usr/sbin`)
  }
  const dataDir = path.join(options.directory, "data")
  const socket = path.join(options.directory, "mysqld.sock")
  const logFile = path.join(options.directory, "mariadbd.log")
  await mkdir(options.directory, { recursive: true })
  // mariadbd refuses to run as root unless told to; as another user, --user is that user.
  const user = os.userInfo().username
  const env: NodeJS.ProcessEnv = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", LANG: "C.UTF-8", HOME: options.directory, ...options.markerEnv }
  await command(installDb, [
    "--no-defaults",
    `--datadir=${dataDir}`,
    `--user=${user}`,
    "--auth-root-authentication-method=normal",
    "--skip-test-db"
  ], env, 120_000).catch((error: Error) => {
    throw new Error(`cannot start a private MariaDB instance: mariadb-install-db failed: ${error.message}`)
  })
  const port = await freePort()
  const args = [
    "--no-defaults",
    `--user=${user}`,
    `--datadir=${dataDir}`,
    `--port=${port}`,
    "--bind-address=127.0.0.1",
    `--socket=${socket}`,
    `--pid-file=${path.join(options.directory, "mariadbd.pid")}`,
    `--log-error=${logFile}`,
    "--skip-log-bin",
    "--innodb-buffer-pool-size=128M",
    "--max-connections=400"
    // Durability stays at the defaults (innodb_flush_log_at_trx_commit = 1): a create answered ok
    // must survive a SIGKILL, or "lost" would measure the configuration instead of BEDS.
  ]
  const connect = (database?: string) =>
    mysql.createConnection({ host: "127.0.0.1", port, user: "root", password: "", connectTimeout: 5_000, ...(database === undefined ? {} : { database }) })

  let child: ChildProcess | undefined
  const start = async () => {
    const current = spawnLogged(server, args, { env, cwd: options.directory, logFile: path.join(options.directory, "mariadbd.out") })
    child = current
    const why = async () =>
      `cannot start a private MariaDB instance on 127.0.0.1:${port} (socket ${socket}): ` +
      (hasExited(current) ? `mariadbd exited with ${current.exitCode ?? current.signalCode}` : "not accepting connections within 60 s") +
      `\n${await tail(logFile)}`
    await waitUntil(async () => {
      const connection = await connect()
      await connection.end()
      return true
    }, { timeoutMs: 60_000, describe: why, gaveUp: () => hasExited(current) }).catch((error: unknown) => {
      current.kill("SIGKILL")
      throw error
    })
  }
  await start()

  return {
    port,
    socket,
    query: async <T>(sql: string, values: ReadonlyArray<unknown> = [], database?: string) => {
      const connection = await connect(database)
      try {
        const [rows] = await connection.query(sql, values as Array<unknown>)
        return rows as T
      } finally {
        await connection.end().catch(() => undefined)
      }
    },
    kill: async () => {
      const current = child
      if (current === undefined || hasExited(current)) return
      current.kill("SIGKILL")
      await exitOf(current)
    },
    restart: start,
    stop: async () => {
      const current = child
      if (current === undefined || hasExited(current)) return
      current.kill("SIGTERM") // a clean shutdown
      await exitWithin(current, 30_000)
    }
  }
}
