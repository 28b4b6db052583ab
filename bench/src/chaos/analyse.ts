// The ledger against the database: what a fault run did, as the table reports it.
import type { FaultWindow } from "./faults.js"
import type { LedgerEntry, Outcome } from "./load.js"

/** Ready messages in the broker queues at one moment (undefined: the monitor could not ask). */
export interface QueueSample {
  readonly at: number
  readonly ready: number | undefined
}

export interface FaultResult {
  readonly fault: string
  readonly title: string
  readonly profile: string
  /** Requests (each with its own key), of which creates and reads. */
  readonly sent: number
  readonly creates: number
  readonly reads: number
  readonly attempts: number
  /** Final outcomes. */
  readonly ok: number
  /** Requests that ended with an error reply or a client error other than no reply at all, by code. */
  readonly errors: Readonly<Record<string, number>>
  /** Requests with no reply after every attempt. */
  readonly unanswered: number
  /** Attempts that ended in ClientTimeout. */
  readonly timeouts: number
  /** Attempts sent again, by what ended the attempt before. */
  readonly resent: Readonly<Record<string, number>>
  /** Creates answered ok whose key has no row. */
  readonly lost: number
  readonly lostKeys: ReadonlyArray<string>
  /** Keys with more than one row, and the rows beyond the first. */
  readonly duplicated: number
  readonly extraRows: number
  readonly duplicatedKeys: ReadonlyArray<string>
  /** Creates not answered ok (by their final outcome) whose row is there all the same: they ran. */
  readonly ranWithoutOk: Readonly<Record<string, number>>
  /** Rows whose ledger value the client never sent (should be 0: a bug in the suite or BEDS). */
  readonly strangerRows: number
  readonly rows: number
  readonly deadLetters: number
  readonly window: FaultWindow | undefined
  /** From the fault's end to the first ok reply after it, and to the backlog being gone (ms). */
  readonly recoveryFirstOkMs: number | undefined
  readonly recoveryDrainedMs: number | undefined
  readonly okAfterFault: number
  readonly durationMs: number
  /** Per second of the run: attempts ended, by outcome (for reading a run closely; in the JSON only). */
  readonly timeline: ReadonlyArray<Readonly<Record<string, number>>>
}

const count = (into: Record<string, number>, key: string) => {
  into[key] = (into[key] ?? 0) + 1
}

export const analyse = (input: {
  readonly fault: string
  readonly title: string
  readonly profile: string
  readonly ledger: ReadonlyArray<LedgerEntry>
  /** Rows per ledger value in the database after the run. */
  readonly rows: ReadonlyMap<string, number>
  readonly deadLetters: number
  readonly window: FaultWindow | undefined
  readonly samples: ReadonlyArray<QueueSample>
  readonly durationMs: number
}): FaultResult => {
  const { ledger, rows, window } = input
  const errors: Record<string, number> = {}
  const resent: Record<string, number> = {}
  const ranWithoutOk: Record<string, number> = {}
  let ok = 0
  let unanswered = 0
  let timeouts = 0
  let attempts = 0
  const lostKeys: Array<string> = []
  for (const entry of ledger) {
    attempts += entry.attempts.length
    entry.attempts.forEach((attempt, i) => {
      if (attempt.outcome === "ClientTimeout") timeouts++
      if (i < entry.attempts.length - 1) count(resent, attempt.outcome)
    })
    const outcome: Outcome = entry.final?.outcome ?? "not finished"
    if (outcome === "ok") ok++
    else if (outcome === "ClientTimeout" || outcome === "ClientDisconnected") unanswered++
    else count(errors, outcome)
    if (entry.op === "create" && outcome === "ok" && (rows.get(entry.key) ?? 0) === 0) lostKeys.push(entry.key)
    if (entry.op === "create" && outcome !== "ok" && (rows.get(entry.key) ?? 0) > 0) count(ranWithoutOk, outcome)
  }
  const sentKeys = new Set(ledger.filter((entry) => entry.op === "create").map((entry) => entry.key))
  const duplicatedKeys = [...rows].filter(([, n]) => n > 1).map(([key]) => key)
  const extraRows = [...rows.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0)
  const strangerRows = [...rows].filter(([key]) => !sentKeys.has(key)).reduce((sum, [, n]) => sum + n, 0)

  let recoveryFirstOkMs: number | undefined
  let recoveryDrainedMs: number | undefined
  let okAfterFault = 0
  if (window !== undefined) {
    const oksAfter = ledger.flatMap((entry) => entry.attempts).filter((a) => a.outcome === "ok" && a.endedAt >= window.end).map((a) => a.endedAt)
    okAfterFault = oksAfter.length
    if (oksAfter.length > 0) recoveryFirstOkMs = Math.min(...oksAfter) - window.end
    // Drained: every request begun before the fault ended has its final answer, and the broker
    // queues hold no ready message.
    const backlogSettled = ledger
      .filter((entry) => (entry.attempts[0]?.sentAt ?? Infinity) <= window.end)
      .reduce((latest, entry) => Math.max(latest, entry.final?.at ?? Infinity), window.end)
    const emptyAt = input.samples.find((sample) => sample.at >= backlogSettled && sample.ready === 0)?.at
    if (emptyAt !== undefined && Number.isFinite(backlogSettled)) recoveryDrainedMs = emptyAt - window.end
  }
  const timeline: Array<Record<string, number>> = []
  for (const attempt of ledger.flatMap((entry) => entry.attempts)) count(timeline[Math.floor(attempt.endedAt / 1000)] ??= {}, attempt.outcome)
  return {
    fault: input.fault,
    title: input.title,
    profile: input.profile,
    sent: ledger.length,
    creates: ledger.filter((entry) => entry.op === "create").length,
    reads: ledger.filter((entry) => entry.op === "fetch").length,
    attempts,
    ok,
    errors,
    unanswered,
    timeouts,
    resent,
    lost: lostKeys.length,
    lostKeys: lostKeys.slice(0, 20),
    duplicated: duplicatedKeys.length,
    extraRows,
    duplicatedKeys: duplicatedKeys.slice(0, 20),
    ranWithoutOk,
    strangerRows,
    rows: [...rows.values()].reduce((sum, n) => sum + n, 0),
    deadLetters: input.deadLetters,
    window,
    recoveryFirstOkMs,
    recoveryDrainedMs,
    okAfterFault,
    durationMs: input.durationMs,
    timeline: Array.from(timeline, (second) => second ?? {})
  }
}
