// The chaos load: a bounded mix of keyed creates and reads through BedsClient's Promise facade, from
// a client that resends every request whose reply it did not get (a timeout, a dropped connection,
// or an `unavailable` reply) with the same idempotencyKey, until answered or out of attempts. Every
// request and every attempt's outcome goes into the ledger.
import type { BedsClientPromise } from "../../../dist/client/promise.js"
import { sleep } from "./processes.js"

/** What ended one attempt: `ok`, an error reply's code, or the client error's tag. */
export type Outcome = string

export interface Attempt {
  readonly sentAt: number
  readonly endedAt: number
  readonly outcome: Outcome
}

export interface LedgerEntry {
  readonly index: number
  /** The request's idempotencyKey (creates send it, and write it into the row's ledger column). */
  readonly key: string
  readonly op: "create" | "fetch"
  readonly attempts: Array<Attempt>
  /** The last attempt's outcome and when it ended; undefined only while the request runs. */
  final?: { readonly outcome: Outcome; readonly at: number }
}

export interface LoadOptions {
  readonly template: string
  readonly keyPrefix: string
  /** At least this many requests; more while `mayFinish()` says no; never more than `maxRequests`. */
  readonly requests: number
  readonly maxRequests: number
  /** `inFlight` callers, each sending its next request when the last is answered; paced when a rate is given. */
  readonly inFlight: number
  readonly ratePerSecond: number | undefined
  readonly createShare: number
  readonly attemptTimeoutMs: number
  readonly maxAttempts: number
  readonly resendBaseDelayMs: number
  readonly resendMaxDelayMs: number
  readonly seed: number
}

/** Outcomes after which the client sends the same request again (same idempotencyKey). */
export const RESEND_ON: ReadonlySet<Outcome> = new Set(["ClientTimeout", "ClientDisconnected", "unavailable"])

/** A small seeded generator, so that two runs make the same choices (mulberry32). */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const outcomeOf = (error: unknown): Outcome =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string" ? error._tag : `thrown: ${String(error)}`

/** How far the load has got: requests begun so far. */
export interface LoadProgress {
  sent: number
}

/**
 * Sends requests from `inFlight` callers until at least `requests` are sent and `mayFinish()`, or
 * `maxRequests` are sent. `now` is the run's clock (ms). `stopped()` true ends it early: nothing new
 * is sent, attempts under way finish.
 */
export const driveLoad = async (
  client: BedsClientPromise,
  options: LoadOptions,
  control: { readonly now: () => number; readonly stopped: () => boolean; readonly mayFinish: () => boolean; readonly progress: LoadProgress }
): Promise<Array<LedgerEntry>> => {
  const { now, stopped, mayFinish, progress } = control
  const next = random(options.seed)
  const ledger: Array<LedgerEntry> = []
  const knownIds: Array<number> = []
  const start = now()
  let cursor = 0

  const runRequest = async (entry: LedgerEntry, id: number | undefined) => {
    for (let attempt = 1; ; attempt++) {
      const sentAt = now()
      const outcome = await client.request({
        template: options.template,
        op: entry.op,
        timeoutMs: options.attemptTimeoutMs,
        ...(entry.op === "create"
          ? { data: { ledger: entry.key, amount: entry.index }, idempotencyKey: entry.key }
          : { query: { id } })
      }).then((reply) => {
        if (reply.status === "error") return reply.error.code
        if (entry.op === "create") {
          const created = (reply.data as { id?: unknown } | null)?.id
          if (typeof created === "number") knownIds.push(created)
        }
        return "ok"
      }, outcomeOf)
      entry.attempts.push({ sentAt, endedAt: now(), outcome })
      if (!RESEND_ON.has(outcome) || attempt >= options.maxAttempts || stopped()) {
        entry.final = { outcome, at: now() }
        return
      }
      await sleep(Math.min(options.resendMaxDelayMs, options.resendBaseDelayMs * 2 ** (attempt - 1)))
    }
  }

  const more = () => !stopped() && cursor < options.maxRequests && (cursor < options.requests || !mayFinish())
  const caller = async () => {
    while (more()) {
      const index = cursor++
      if (options.ratePerSecond !== undefined) {
        const due = start + (index * 1000) / options.ratePerSecond
        if (due > now()) await sleep(due - now())
        if (stopped()) return
      }
      progress.sent = index + 1
      // A read needs a record to read: until a create has been answered, everything is a create.
      const create = next() < options.createShare || knownIds.length === 0
      const id = create ? undefined : knownIds[Math.floor(next() * knownIds.length)]
      const entry: LedgerEntry = {
        index,
        key: `${options.keyPrefix}-${String(index).padStart(6, "0")}`,
        op: create ? "create" : "fetch",
        attempts: []
      }
      ledger.push(entry)
      await runRequest(entry, id)
    }
  }
  await Promise.all(Array.from({ length: options.inFlight }, caller))
  return ledger.sort((a, b) => a.index - b.index)
}
