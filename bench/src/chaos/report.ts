// The chaos table (one row per fault) and its place in docs/reliability.md, between markers so that
// the next `npm run chaos` replaces it.
import { readFile, writeFile } from "node:fs/promises"
import type { FaultResult } from "./analyse.js"

export const TABLE_BEGIN = "<!-- chaos-table:begin (written by npm run chaos; edits here are replaced) -->"
export const TABLE_END = "<!-- chaos-table:end -->"

const seconds = (ms: number | undefined) => (ms === undefined ? "n/a" : `${(ms / 1000).toFixed(1)} s`)
const byCode = (counts: Readonly<Record<string, number>>) =>
  Object.entries(counts).sort(([, a], [, b]) => b - a).map(([code, n]) => `${code} ${n}`).join(", ") || "none"

export interface FailedRun {
  readonly fault: string
  readonly title: string
  readonly error: string
}

export const tableRows = (results: ReadonlyArray<FaultResult | FailedRun>) => [
  "| fault | sent (creates / reads) | ok | errors by code (final) | timeouts | resent (why) | unanswered | lost | duplicated effects | first ok after fault | drained after fault |",
  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ...results.map((r) =>
    "error" in r
      ? `| ${r.title} | run failed: ${r.error.split("\n")[0]!.replaceAll("|", "/").slice(0, 200)} | | | | | | | | | |`
      : `| ${r.title} | ${r.sent} (${r.creates} / ${r.reads}) | ${r.ok} | ${byCode(r.errors)} | ${r.timeouts} | ` +
        `${Object.values(r.resent).reduce((a, b) => a + b, 0)}${Object.keys(r.resent).length > 0 ? ` (${byCode(r.resent)})` : ""} | ` +
        `${r.unanswered} | **${r.lost}** | **${r.duplicated}**${r.extraRows > r.duplicated ? ` keys, ${r.extraRows} extra rows` : ""} | ` +
        `${r.window === undefined ? "no fault" : seconds(r.recoveryFirstOkMs)} | ${r.window === undefined ? "no fault" : seconds(r.recoveryDrainedMs)} |`
  )
]

/** One line per run on what the fault did, when, and anything odd. */
export const runNotes = (results: ReadonlyArray<FaultResult | FailedRun>) =>
  results.filter((r): r is FaultResult => !("error" in r)).map((r) => {
    const window = r.window === undefined ? "no fault" : `fault ${seconds(r.window.start)}-${seconds(r.window.end)} into the load: ${r.window.evidence}`
    const odd = [
      r.strangerRows > 0 ? `${r.strangerRows} rows with a ledger value never sent` : "",
      r.deadLetters > 0 ? `${r.deadLetters} dead letters` : "",
      Object.keys(r.ranWithoutOk).length > 0 ? `creates that ran though not answered ok: ${byCode(r.ranWithoutOk)}` : "",
      r.lost > 0 ? `lost: ${r.lostKeys.join(", ")}` : ""
    ].filter((s) => s !== "")
    return `- ${r.title}: ${window}; load ${seconds(r.durationMs)}, ${r.attempts} attempts, ${r.rows} rows` +
      (odd.length > 0 ? `; ${odd.join("; ")}` : "")
  })

/** Replaces what is between the markers in `file` with `section`. */
export const writeSection = async (file: string, section: string) => {
  const text = await readFile(file, "utf8")
  const begin = text.indexOf(TABLE_BEGIN)
  const end = text.indexOf(TABLE_END)
  if (begin < 0 || end < begin) throw new Error(`${file}: markers ${TABLE_BEGIN} ... ${TABLE_END} not found`)
  await writeFile(file, `${text.slice(0, begin + TABLE_BEGIN.length)}\n${section.trim()}\n${text.slice(end)}`)
}
