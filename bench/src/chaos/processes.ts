// Processes of one chaos lab: every process the lab starts carries CHAOS_LAB_DIR=<lab dir> in its
// environment, so that the lab can find (and kill) all of them, whatever started them: the private
// RabbitMQ node and the epmd it starts, the private mariadbd, the BEDS nodes, jongodb. A detached
// reaper does the same if the driver itself dies without cleaning up (SIGKILL, a crash).
import { execFile, spawn, type ChildProcess } from "node:child_process"
import { createWriteStream } from "node:fs"
import { readdir, readFile } from "node:fs/promises"
import { promisify } from "node:util"

const run = promisify(execFile)

// Not BEDS_*: a node reads every BEDS_* variable as a config key.
export const LAB_MARKER = "CHAOS_LAB_DIR"

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * Polls `check` (a rejection counts as not yet) every `intervalMs` until it returns true; throws
 * `describe()` after `timeoutMs`, or at once when `gaveUp()` says there is no point waiting.
 */
export const waitUntil = async (
  check: () => Promise<boolean>,
  options: { readonly timeoutMs: number; readonly describe: () => Promise<string> | string; readonly intervalMs?: number; readonly gaveUp?: () => boolean }
) => {
  const deadline = Date.now() + options.timeoutMs
  for (;;) {
    if (options.gaveUp?.() === true) throw new Error(await options.describe())
    if (await check().catch(() => false)) return
    if (Date.now() > deadline) throw new Error(await options.describe())
    await sleep(options.intervalMs ?? 100)
  }
}

/** Runs a command to completion (bounded); rejects with its stderr on failure. */
export const command = async (file: string, args: ReadonlyArray<string>, env: NodeJS.ProcessEnv, timeoutMs = 60_000) => {
  try {
    const { stdout } = await run(file, [...args], { env, timeout: timeoutMs, killSignal: "SIGKILL", maxBuffer: 16 * 1024 * 1024 })
    return stdout
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string }
    throw new Error(`${file} ${args.join(" ")}: ${(e.stderr || e.stdout || e.message).trim().slice(0, 2_000)}`)
  }
}

/** A long-running child whose stdout and stderr go to `logFile`. */
export const spawnLogged = (file: string, args: ReadonlyArray<string>, options: { env: NodeJS.ProcessEnv; cwd: string; logFile: string }) => {
  const log = createWriteStream(options.logFile, { flags: "a" })
  const child = spawn(file, [...args], { env: options.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] })
  child.stdout!.pipe(log, { end: false })
  child.stderr!.pipe(log, { end: false })
  child.once("exit", () => setTimeout(() => log.end(), 100))
  return child
}

export const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

/** Resolves when the child has exited (at once if it already has). */
export const exitOf = (child: ChildProcess) =>
  new Promise<number | string>((resolve) => {
    if (hasExited(child)) return resolve(child.exitCode ?? child.signalCode ?? "unknown")
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"))
  })

/** Waits up to `timeoutMs` for the child to exit, then SIGKILLs it. */
export const exitWithin = async (child: ChildProcess, timeoutMs: number) => {
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
  try {
    return await exitOf(child)
  } finally {
    clearTimeout(timer)
  }
}

export const tail = async (file: string, lines = 30) =>
  (await readFile(file, "utf8").catch(() => "")).split("\n").slice(-lines).join("\n")

/** Pids of every live process whose environment has CHAOS_LAB_DIR=<labDir> (Linux /proc). */
export const labProcesses = async (labDir: string): Promise<Array<number>> => {
  const wanted = `${LAB_MARKER}=${labDir}`
  const pids: Array<number> = []
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue
    const environ = await readFile(`/proc/${entry}/environ`, "latin1").catch(() => "")
    if (environ.split("\0").includes(wanted)) pids.push(Number(entry))
  }
  return pids
}

/** SIGKILLs whatever the lab left running. Returns how many it found. */
export const killLabProcesses = async (labDir: string) => {
  const pids = await labProcesses(labDir)
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL")
    } catch {
      // already gone
    }
  }
  return pids.length
}

/**
 * A detached shell that waits for this process to end and then kills every process of the lab and
 * removes its directory. After a normal cleanup it finds nothing and only exits.
 */
export const startReaper = (labDir: string) => {
  const script = `
driver=$1; dir=$2
while kill -0 "$driver" 2>/dev/null; do sleep 1; done
for p in /proc/[0-9]*; do
  pid=\${p#/proc/}
  if tr '\\0' '\\n' < "$p/environ" 2>/dev/null | grep -qxF "${LAB_MARKER}=$dir"; then kill -9 "$pid" 2>/dev/null; fi
done
rm -rf -- "$dir"
`
  const child = spawn("sh", ["-c", script, "beds-chaos-reaper", String(process.pid), labDir], {
    detached: true,
    stdio: "ignore",
    env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin" }
  })
  child.unref()
}

/** Cleanup steps run in reverse order of registration, each at most once; a failing step is logged. */
export class Cleanups {
  private readonly steps: Array<{ readonly name: string; readonly run: () => Promise<unknown> }> = []
  add(name: string, run: () => Promise<unknown>) {
    this.steps.push({ name, run })
  }
  async runAll() {
    for (const step of this.steps.splice(0).reverse()) {
      await step.run().catch((error: unknown) => console.error(`chaos cleanup: ${step.name}: ${String(error)}`))
    }
  }
}
