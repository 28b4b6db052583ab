import { spawn, type ChildProcess } from "node:child_process"
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { stringify } from "smol-toml"
import { onTestFinished } from "vitest"
import type { TestServices } from "./services.js"

export const repoRoot = path.resolve(import.meta.dirname, "../..")
export const mainScript = path.join(repoRoot, "dist", "main.js")

/** An env_{env}.toml pointing a node at this test run's services. */
export const serviceOverrides = (services: TestServices, nodeId: string) => ({
  config_version: 1,
  node: { id: nodeId },
  logging: { level: "info" },
  ipl: { step_timeout_ms: 5_000 },
  rabbitmq: { ...services.rabbitmq },
  mariadb: { master: { ...services.mariadb } },
  mongodb: { ...services.mongodb },
  dynamodb: {
    endpoint: services.dynamodb.endpoint,
    region: services.dynamodb.region,
    access_key_id: services.dynamodb.accessKeyId,
    secret_access_key: services.dynamodb.secretAccessKey
  },
  shared_fs: { path: services.sharedDir }
})

/**
 * A config directory of the checked-in beds.toml plus the given env files (name -> table),
 * removed when the calling test finishes.
 */
export const writeConfigDir = async (envFiles: Record<string, Record<string, unknown>>) => {
  const directory = await mkdtemp(path.join(tmpdir(), "beds-config-"))
  onTestFinished(() => rm(directory, { recursive: true, force: true }))
  await copyFile(path.join(repoRoot, "config", "beds.toml"), path.join(directory, "beds.toml"))
  for (const [name, table] of Object.entries(envFiles)) await writeFile(path.join(directory, name), stringify(table))
  return directory
}

/** A config directory of the checked-in beds.toml and an env_dev.toml of `table`, for a node a whole file shares; the caller removes it. */
export const makeDevConfigDir = async (table: Record<string, unknown>) => {
  const directory = await mkdtemp(path.join(tmpdir(), "beds-config-"))
  await copyFile(path.join(repoRoot, "config", "beds.toml"), path.join(directory, "beds.toml"))
  await writeFile(path.join(directory, "env_dev.toml"), stringify(table))
  return { directory, remove: () => rm(directory, { recursive: true, force: true }) }
}

export interface NodeProcess {
  readonly child: ChildProcess
  readonly stdout: () => string
  readonly stderr: () => string
  /** Resolves when stdout or stderr matches, rejects after `timeoutMs` or if the process exits first. */
  readonly waitForOutput: (pattern: RegExp, timeoutMs: number) => Promise<void>
  /** Resolves with the exit code (or the signal's name); kills the process after `timeoutMs`. */
  readonly exited: (timeoutMs: number) => Promise<number | string>
}

/** Runs `node dist/main.js` with only the given BEDS_* variables (the test's env never leaks in). */
export const startNode = (args: ReadonlyArray<string>, variables: Record<string, string>): NodeProcess => {
  const child = spawn(process.execPath, [mainScript, ...args], {
    env: { PATH: process.env["PATH"] ?? "", AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", ...variables },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  const listeners = new Set<() => void>()
  const notify = () => listeners.forEach((listener) => listener())
  child.stdout!.on("data", (chunk) => { stdout += chunk; notify() })
  child.stderr!.on("data", (chunk) => { stderr += chunk; notify() })
  const exit = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"))
  )
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    waitForOutput: (pattern, timeoutMs) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(stdout) || pattern.test(stderr)) {
            cleanup()
            resolve()
          }
        }
        const timer = setTimeout(() => {
          cleanup()
          reject(new Error(`no output matching ${pattern} within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`))
        }, timeoutMs)
        const onExit = () => {
          cleanup()
          reject(new Error(`node exited before printing ${pattern}\nstdout:\n${stdout}\nstderr:\n${stderr}`))
        }
        const cleanup = () => {
          clearTimeout(timer)
          listeners.delete(check)
          child.off("exit", onExit)
        }
        listeners.add(check)
        child.once("exit", onExit)
        check()
      }),
    exited: async (timeoutMs) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
      try {
        return await exit
      } finally {
        clearTimeout(timer)
      }
    }
  }
}
