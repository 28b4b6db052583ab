// `npm run chaos`: every fault against a private RabbitMQ node and MariaDB instance (never the
// machine's), two BEDS nodes and a resending client, 3,000 requests per fault; prints the table and
// writes it into docs/reliability.md. Traffic on 127.0.0.1 only; bounded; cleans up after itself,
// also on failure or Ctrl-C. Options: --short (the `npm test` sizes, docs not written),
// --only=baseline,node-kill (those faults only, docs not written), --no-write, --keep-logs (the
// nodes' logs of every run are copied to a directory under the OS temp directory, named at the end).
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { cp, mkdir, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { promisify } from "node:util"
import type { FaultResult } from "./analyse.js"
import { repoRoot } from "./beds-node.js"
import { EXACTLY_ONCE } from "./exactly-once.js"
import { faults } from "./faults.js"
import { startLab, type Lab } from "./lab.js"
import { FULL, SHORT } from "./profiles.js"
import { runNotes, tableRows, writeSection, type FailedRun } from "./report.js"
import { runFault } from "./run-fault.js"

const run = promisify(execFile)
const argv = process.argv.slice(2)
const profile = argv.includes("--short") ? SHORT : FULL
const only = argv.find((arg) => arg.startsWith("--only="))?.slice("--only=".length).split(",")
const chosen = only === undefined ? faults : faults.filter((fault) => only.includes(fault.name))
const writeDocs = profile === FULL && only === undefined && !argv.includes("--no-write")
const keepLogsIn = argv.includes("--keep-logs") ? path.join(os.tmpdir(), `beds-chaos-logs-${new Date().toISOString().replace(/[:.]/g, "-")}`) : undefined

const git = (args: ReadonlyArray<string>) => run("git", [...args], { cwd: repoRoot }).then(({ stdout }) => stdout.trim(), () => "")

const main = async () => {
  if (!existsSync(path.join(repoRoot, "dist", "main.js"))) throw new Error("dist/main.js missing: run npm run build first")
  if (chosen.length === 0) throw new Error(`--only matched no fault; faults: ${faults.map((f) => f.name).join(", ")}`)
  const started = Date.now()
  let lab: Lab | undefined
  let interrupted = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return
    interrupted = true
    console.error(`chaos: ${signal}: stopping and removing the lab`)
    void (lab?.stop() ?? Promise.resolve()).finally(() => process.exit(130))
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)

  lab = await startLab()
  const results: Array<FaultResult | FailedRun> = []
  try {
    for (const fault of chosen) {
      if (interrupted) break
      console.log(`chaos: ${fault.title}: ${profile.requests} requests ...`)
      try {
        const result = await runFault(lab, fault, profile, keepLogsIn === undefined ? {} : { keepLogsIn })
        results.push(result)
        console.log(`chaos: ${fault.title}: ${JSON.stringify({
          sent: result.sent, ok: result.ok, errors: result.errors, timeouts: result.timeouts, unanswered: result.unanswered,
          lost: result.lost, duplicated: result.duplicated, extraRows: result.extraRows,
          firstOkMs: result.recoveryFirstOkMs === undefined ? undefined : Math.round(result.recoveryFirstOkMs),
          drainedMs: result.recoveryDrainedMs === undefined ? undefined : Math.round(result.recoveryDrainedMs),
          fault: result.window?.evidence
        })}`)
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error)
        console.error(`chaos: ${fault.title}: FAILED: ${message}`)
        results.push({ fault: fault.name, title: fault.title, error: message })
      }
    }
  } finally {
    if (keepLogsIn !== undefined) {
      await cp(path.join(lab.directory, "rabbitmq", "log"), path.join(keepLogsIn, "rabbitmq"), { recursive: true }).catch(() => undefined)
      await cp(path.join(lab.directory, "mariadb", "mariadbd.log"), path.join(keepLogsIn, "mariadbd.log")).catch(() => undefined)
      console.log(`chaos: logs kept in ${keepLogsIn}`)
    }
    await lab.stop()
  }
  if (interrupted) return 130

  const minutes = ((Date.now() - started) / 60_000).toFixed(1)
  const commit = await git(["rev-parse", "--short", "HEAD"])
  const dirty = (await git(["status", "--porcelain", "--", "src"])) !== ""
  const cpus = os.cpus()
  const section = [
    `Last run: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC on \`${os.hostname()}\` (${cpus.length} × ${cpus[0]?.model.trim() ?? "?"}, ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}); private RabbitMQ ${lab.versions.rabbitmq} node and ` +
      `MariaDB ${lab.versions.mariadb} instance; the build of commit ${commit}${dirty ? " plus uncommitted changes in src/" : ""}; ${minutes} min in all.`,
    "",
    `Command: \`npm run chaos${profile === FULL ? "" : " -- --short"}\`: per fault at least ${profile.requests.toLocaleString("en")} requests ` +
      `(${Math.round(profile.createShare * 100)}% keyed creates, the rest reads), ${profile.inFlight} in flight ` +
      `(${profile.ratePerSecond === undefined ? "each caller sends its next request when the last is answered" : `paced at ${profile.ratePerSecond}/s`}), ` +
      `the fault after ${profile.faultAfterRequests.toLocaleString("en")} requests, the load going on until ${profile.tailMs / 1000} s after it ended; ` +
      `${profile.attemptTimeoutMs / 1000} s per attempt, at most ${profile.maxAttempts} attempts. EXACTLY_ONCE = ${EXACTLY_ONCE}.`,
    "",
    ...tableRows(results),
    "",
    ...runNotes(results)
  ].join("\n")
  console.log(`\n${section}\n`)

  const resultsDir = path.join(repoRoot, "bench", "results")
  await mkdir(resultsDir, { recursive: true })
  await writeFile(path.join(resultsDir, `chaos-${profile.name}.json`), JSON.stringify({ profile, results }, null, 2))
  if (writeDocs) {
    await writeSection(path.join(repoRoot, "docs", "reliability.md"), section)
    console.log("chaos: table written to docs/reliability.md")
  }

  const failed = results.filter((r) => "error" in r).length
  const lost = results.reduce((sum, r) => sum + ("error" in r ? 0 : r.lost), 0)
  const duplicated = results.reduce((sum, r) => sum + ("error" in r ? 0 : r.duplicated), 0)
  if (failed > 0) console.error(`chaos: ${failed} fault run(s) failed`)
  if (lost > 0) console.error(`chaos: ${lost} creates answered ok have no row`)
  if (duplicated > 0) console.error(`chaos: ${duplicated} keys ran more than once${EXACTLY_ONCE ? "" : " (expected while EXACTLY_ONCE is false)"}`)
  const internal = results.reduce((sum, r) => sum + ("error" in r ? 0 : r.errors["internal"] ?? 0), 0)
  if (internal > 0) console.error(`chaos: ${internal} requests answered internal (a defect) under a fault`)
  return failed > 0 || lost > 0 || internal > 0 || (EXACTLY_ONCE && duplicated > 0) ? 1 : 0
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`chaos: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
)
