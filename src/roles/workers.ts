import { fork, type ChildProcess } from "node:child_process"
import { availableParallelism } from "node:os"
import { Clock, Deferred, Duration, Effect, Either, Option, Runtime, Schedule, type Scope } from "effect"
import type { BedsConfig } from "../config/schema.js"
import { cappedExponential } from "../kernel/backoff.js"
import { recordWorkerRestart, recordWorkers } from "../telemetry/metrics.js"
import type { WorkerView } from "./health.js"
import { decodeFromWorker, type FromWorker, type ToWorker } from "./worker-ipc.js"

/** `node.workers`: a count, or "auto" = the cores this process may run on. */
export const workerCount = (config: Pick<BedsConfig, "node">): number =>
  config.node.workers === "auto" ? availableParallelism() : config.node.workers

/** How long the primary waits for a worker's answer (readiness, metrics) before counting it as none. */
const ANSWER_TIMEOUT = Duration.seconds(2)
/** After the drain timeout, what a worker gets to close its channels and connections before it is killed. */
const EXIT_MARGIN_MS = 5_000

export interface WorkersOptions {
  /** The script a worker runs (dist/main.js); each is started as `{entry} --worker={n}`. */
  readonly entry: string
  readonly count: number
  readonly restartBaseDelayMs: number
  readonly restartMaxDelayMs: number
  readonly drainTimeoutMs: number
}

interface Slot {
  readonly worker: number
  child: ChildProcess | undefined
  servingSince: number | undefined
  restarts: number
}

type Ended = { readonly code: number | null; readonly signal: string | null } | { readonly error: string }

const describeEnd = (ended: Ended) =>
  "error" in ended ? `could not be started: ${ended.error}` : ended.signal !== null ? `killed by ${ended.signal}` : `exited with code ${ended.code}`

/** Completes when the child has exited (at once if it has), or when it could not be started at all. */
const exitOf = (child: ChildProcess) =>
  Effect.async<Ended>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed({ code: child.exitCode, signal: child.signalCode }))
    const onExit = (code: number | null, signal: string | null) => resume(Effect.succeed({ code, signal }))
    // Without a pid the process never ran: no exit will follow. Other errors are failed sends.
    const onError = (error: Error) => void (child.pid === undefined && resume(Effect.succeed({ error: error.message })))
    child.once("exit", onExit)
    child.on("error", onError)
    return Effect.sync(() => {
      child.off("exit", onExit)
      child.off("error", onError)
    })
  })

/**
 * The primary of a multi-process node: starts `count` worker processes (node:child_process fork of
 * the node's own entry) and keeps them: a worker that dies is logged with its cause, counted
 * (`beds_worker_restarts_total`) and replaced after the one capped exponential backoff
 * (kernel/backoff.ts), which starts over after a worker that served for longer than the cap. When the
 * scope closes (SIGTERM) every worker is told to drain and waited for; one that has not exited after
 * the drain timeout and a margin is killed. Readiness and metrics are asked of each worker over IPC.
 */
export const startWorkers = (options: WorkersOptions): Effect.Effect<Workers, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const slots: ReadonlyArray<Slot> = Array.from({ length: options.count }, (_, i) => ({
      worker: i + 1,
      child: undefined,
      servingSince: undefined,
      restarts: 0
    }))
    const servedOnce = new Set<number>()
    const allServing = yield* Deferred.make<void>()
    const pending = new Map<number, (message: FromWorker) => void>()
    let nextId = 0
    let draining = false
    const gauge = () => recordWorkers(options.count, slots.filter((slot) => slot.servingSince !== undefined).length)
    gauge()

    const send = (child: ChildProcess, message: ToWorker) =>
      new Promise<boolean>((resolve) => {
        if (!child.connected) return resolve(false)
        child.send(message, (error) => resolve(error === null))
      })

    const onMessage = (slot: Slot, child: ChildProcess) => (raw: unknown) => {
      const decoded = decodeFromWorker(raw)
      if (Either.isLeft(decoded)) {
        runFork(Effect.logWarning(`worker ${slot.worker}: a message that does not decode was dropped`))
        return
      }
      const message = decoded.right
      if (message._tag !== "Serving") return pending.get(message.id)?.(message)
      if (slot.child !== child) return
      slot.servingSince = Date.now()
      gauge()
      runFork(Effect.logInfo(`worker ${slot.worker} serving (pid ${child.pid})`))
      servedOnce.add(slot.worker)
      if (servedOnce.size === options.count) Deferred.unsafeDone(allServing, Effect.void)
    }

    const start = (slot: Slot) =>
      Effect.sync(() => {
        const child = fork(options.entry, [`--worker=${slot.worker}`], { stdio: "inherit" })
        child.on("message", onMessage(slot, child))
        slot.child = child
        return child
      })

    const supervise = (slot: Slot) =>
      Effect.gen(function*() {
        const backoff = yield* Schedule.driver(cappedExponential(options.restartBaseDelayMs, options.restartMaxDelayMs))
        while (true) {
          const child = yield* start(slot)
          const ended = yield* exitOf(child)
          const servedFor = slot.servingSince === undefined ? 0 : (yield* Clock.currentTimeMillis) - slot.servingSince
          slot.child = undefined
          slot.servingSince = undefined
          gauge()
          if (draining) return
          if (servedFor > options.restartMaxDelayMs) yield* backoff.reset
          slot.restarts++
          recordWorkerRestart(slot.worker)
          const delay = yield* backoff.next(undefined).pipe(Effect.orElseSucceed(() => Duration.millis(options.restartMaxDelayMs)))
          yield* Effect.logError(
            `worker ${slot.worker} (pid ${child.pid ?? "none"}) died: ${describeEnd(ended)}; ` +
              `replacing it in ${Duration.toMillis(delay)} ms (restart ${slot.restarts})`
          )
          yield* Effect.sleep(delay)
        }
      }).pipe(Effect.annotateLogs({ worker: slot.worker }))

    for (const slot of slots) yield* Effect.forkScoped(supervise(slot))
    yield* Effect.logInfo(`${options.count} worker processes started`)

    // Runs before the supervisors are interrupted (finalizers run last-added first): every worker is
    // told at once, so they drain side by side, and the supervisors see `draining` and stop.
    const drainAll = Effect.gen(function*() {
      draining = true
      const children = slots.flatMap((slot) => (slot.child === undefined ? [] : [slot.child]))
      yield* Effect.logInfo(`shutdown: draining ${children.length} worker processes`)
      yield* Effect.forEach(children, (child) =>
        Effect.gen(function*() {
          // Over IPC, not a signal: a worker that already got the terminal's SIGINT would die of a second one.
          const told = yield* Effect.promise(() => send(child, { _tag: "Drain" }))
          if (!told) child.kill("SIGTERM")
          const ended = yield* exitOf(child).pipe(Effect.timeoutOption(Duration.millis(options.drainTimeoutMs + EXIT_MARGIN_MS)))
          if (Option.isNone(ended)) {
            yield* Effect.logError(`worker (pid ${child.pid}) did not exit within the drain timeout; killing it`)
            child.kill("SIGKILL")
            yield* exitOf(child)
          }
        }), { concurrency: "unbounded", discard: true })
      yield* Effect.logInfo("shutdown: every worker process has exited")
    })
    yield* Effect.addFinalizer(() => drainAll)

    /** The worker's answer to a question; none when it runs no process, cannot be told, or does not answer in time. */
    const ask = <Tag extends "Readiness" | "Metrics">(slot: Slot, what: "readiness" | "metrics") => {
      const child = slot.child
      if (child === undefined) return Effect.succeedNone
      return Effect.async<Option.Option<Extract<FromWorker, { _tag: Tag }>>>((resume) => {
        const id = ++nextId
        pending.set(id, (message) => resume(Effect.succeedSome(message as Extract<FromWorker, { _tag: Tag }>)))
        void send(child, { _tag: "Query", id, what }).then((sent) => sent || resume(Effect.succeedNone))
        return Effect.sync(() => void pending.delete(id))
      }).pipe(Effect.timeoutOption(ANSWER_TIMEOUT), Effect.map(Option.flatten))
    }

    const views = Effect.forEach(slots, (slot) =>
      Effect.map(ask<"Readiness">(slot, "readiness"), (answer): WorkerView => ({
        worker: slot.worker,
        pid: slot.child?.pid,
        restarts: slot.restarts,
        readiness: Option.getOrUndefined(answer)?.readiness,
        missing: slot.child === undefined ? "not running (being replaced)" : Option.isNone(answer) ? "no answer" : ""
      })), { concurrency: "unbounded" })

    const metrics = Effect.forEach(slots, (slot) =>
      Effect.map(ask<"Metrics">(slot, "metrics"), Option.match({ onNone: () => [], onSome: (answer) => [{ worker: slot.worker, text: answer.text }] })), {
      concurrency: "unbounded"
    }).pipe(Effect.map((texts) => texts.flat()))

    return { allServing: Deferred.await(allServing), views, metrics }
  })

export interface Workers {
  /** Completes once every worker has served (all its pools consuming) at least once. */
  readonly allServing: Effect.Effect<void>
  /** Each worker as it answers now (in parallel, each within 2 s). */
  readonly views: Effect.Effect<ReadonlyArray<WorkerView>>
  /** Each running worker's metrics page (Prometheus text); a worker that does not answer is left out. */
  readonly metrics: Effect.Effect<ReadonlyArray<{ readonly worker: number; readonly text: string }>>
}
