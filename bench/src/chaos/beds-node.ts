// A BEDS node as its operators run it: `node dist/main.js`, role appServer, configured by a config
// directory (the checked-in beds.toml plus an env_dev.toml of the lab's), output to a log file.
import { spawn, type ChildProcess } from "node:child_process"
import { copyFile, mkdir, writeFile } from "node:fs/promises"
import { createWriteStream } from "node:fs"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { stringify } from "smol-toml"
import { exitWithin, hasExited, tail } from "./processes.js"

export const repoRoot = fileURLToPath(new URL("../../..", import.meta.url))
const mainScript = path.join(repoRoot, "dist", "main.js")

/** Writes `directory` as a BEDS config directory: beds.toml (checked in) + env_dev.toml (`overrides`). */
export const writeConfigDir = async (directory: string, overrides: Record<string, unknown>) => {
  await mkdir(directory, { recursive: true })
  await copyFile(path.join(repoRoot, "config", "beds.toml"), path.join(directory, "beds.toml"))
  await writeFile(path.join(directory, "env_dev.toml"), stringify(overrides))
}

/** The whole environment of a `node dist/...` process of the lab: nothing of this process's leaks in. */
export const nodeEnvironment = (configDir: string, markerEnv: Record<string, string>): NodeJS.ProcessEnv => ({
  PATH: process.env["PATH"] ?? "",
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
  BEDS_ENV: "dev",
  BEDS_CONFIG_DIR: configDir,
  ...markerEnv
})

export interface BedsNode {
  readonly id: string
  readonly child: ChildProcess
  readonly logFile: string
  /** Resolves once the node logs `node up` (serving); rejects if it exits first or after `timeoutMs`. */
  readonly serving: (timeoutMs: number) => Promise<void>
  /** SIGTERM and wait (SIGKILL after `timeoutMs`); the exit code or signal. */
  readonly stop: (timeoutMs: number) => Promise<number | string>
}

/** Runs `node dist/main.js` on `configDir`. */
export const startBedsNode = (options: {
  readonly id: string
  readonly configDir: string
  readonly logFile: string
  readonly markerEnv: Record<string, string>
}): BedsNode => {
  const log = createWriteStream(options.logFile, { flags: "a" })
  const child = spawn(process.execPath, [mainScript], {
    cwd: repoRoot,
    env: nodeEnvironment(options.configDir, options.markerEnv),
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  let state: "booting" | "up" | "degraded" = "booting"
  const waiters = new Set<() => void>()
  const onData = (chunk: Buffer) => {
    log.write(chunk)
    if (state === "booting") {
      output = (output + chunk.toString("utf8")).slice(-4_096)
      // A degraded node (a failed boot step in dev) would serve without the chaos template: refused.
      if (/node up DEGRADED/.test(output)) state = "degraded"
      else if (/node up;/.test(output)) state = "up"
    }
    waiters.forEach((waiter) => waiter())
  }
  child.stdout!.on("data", onData)
  child.stderr!.on("data", onData)
  child.once("exit", () => {
    waiters.forEach((waiter) => waiter())
    setTimeout(() => log.end(), 100)
  })
  return {
    id: options.id,
    child,
    logFile: options.logFile,
    serving: (timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`BEDS node ${options.id} not serving within ${timeoutMs} ms`)), timeoutMs)
        const check = () => {
          if (state === "up") finish()
          else if (state === "degraded") finish(new Error(`BEDS node ${options.id} booted DEGRADED (a boot step failed)`))
          else if (hasExited(child)) finish(new Error(`BEDS node ${options.id} exited (${child.exitCode ?? child.signalCode}) before serving`))
        }
        const finish = (error?: Error) => {
          clearTimeout(timer)
          waiters.delete(check)
          if (error === undefined) return resolve()
          void tail(options.logFile, 40).then((lines) => reject(new Error(`${error.message}; its log:\n${lines}`)))
        }
        waiters.add(check)
        check()
      }),
    stop: async (timeoutMs) => {
      if (!hasExited(child)) child.kill("SIGTERM")
      return exitWithin(child, timeoutMs)
    }
  }
}
