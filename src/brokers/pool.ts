import { Cause, Clock, Context, Duration, Effect, Exit, Layer, Schedule, Stream, SubscriptionRef } from "effect"
import { cappedExponential } from "../kernel/backoff.js"
import { recordPool, recordRestart } from "../telemetry/metrics.js"
import { runBroker, type BrokerSpec } from "./broker.js"

export interface PoolStats {
  readonly type: string
  /** The configured size; the supervisor always brings the pool back to it. */
  readonly instances: number
  /** Instances consuming right now. */
  readonly consuming: number
  /** Instances that ended (a defect, a lost channel) and were replaced, since start. */
  readonly restarts: number
  /** The waits the supervisor chose before its latest restarts (at most the last 32), oldest first. */
  readonly restartDelaysMs: ReadonlyArray<number>
}

/** The node's broker pools, with counters an operator (and a test) can read. */
export class BrokerPools extends Context.Tag("beds/BrokerPools")<BrokerPools, {
  readonly stats: Effect.Effect<ReadonlyArray<PoolStats>>
  /**
   * Completes once every instance of every pool has declared and bound its queues and started
   * consuming: from then on a request published to any route of the node reaches a consumer.
   */
  readonly ready: Effect.Effect<void>
}>() {}

export interface SupervisorOptions {
  readonly restartBaseDelayMs: number
  readonly restartMaxDelayMs: number
}

const KEPT_DELAYS = 32

type Update = (f: (stats: PoolStats) => PoolStats) => Effect.Effect<void>

/**
 * Keeps one broker instance alive: whenever it ends other than by interruption, log why, count the
 * restart, wait as the one backoff says (kernel/backoff.ts) and start a new one; the pool never
 * shrinks. The backoff starts over when the instance's connection was lost (the connection has
 * its own backoff, and a broker is not at fault for it) and after an instance that consumed for
 * longer than the cap (a healthy run): only failures of the broker itself, in a row, wait longer.
 */
const supervise = (spec: BrokerSpec, instance: number, update: Update, options: SupervisorOptions) =>
  Effect.gen(function*() {
    const backoff = yield* Schedule.driver(cappedExponential(options.restartBaseDelayMs, options.restartMaxDelayMs))
    while (true) {
      let consumingSince: number | undefined
      const exit = yield* runBroker(spec, {
        onConsuming: Effect.zipRight(
          update((s) => ({ ...s, consuming: s.consuming + 1 })),
          Effect.map(Clock.currentTimeMillis, (now) => void (consumingSince = now))
        ),
        onStopped: update((s) => ({ ...s, consuming: s.consuming - 1 }))
      }).pipe(Effect.exit)
      if (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)) return
      const failure = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : undefined
      const connectionLost = failure?._tag === "Some" && failure.value._tag === "BrokerStopped" && failure.value.connectionLost
      const healthy = consumingSince !== undefined && (yield* Clock.currentTimeMillis) - consumingSince > options.restartMaxDelayMs
      if (connectionLost || healthy) yield* backoff.reset
      yield* update((s) => ({ ...s, restarts: s.restarts + 1 }))
      const log = failure?._tag === "Some" ? Effect.logWarning : Effect.logError
      yield* log(`broker ${spec.type}#${instance} ended; replacing it`, Exit.isFailure(exit) ? exit.cause : Cause.empty)
      const delay = yield* backoff.next(undefined).pipe(Effect.orElseSucceed(() => Duration.millis(options.restartMaxDelayMs)))
      yield* update((s) => ({ ...s, restartDelaysMs: [...s.restartDelaysMs, Duration.toMillis(delay)].slice(-KEPT_DELAYS) }))
    }
  }).pipe(Effect.annotateLogs({ broker: spec.type, instance }))

/** Starts every pool and keeps it at size until the layer's scope closes (shutdown drains them). */
export const BrokerPoolsLive = (specs: ReadonlyArray<BrokerSpec>, options: SupervisorOptions) =>
  Layer.scoped(
    BrokerPools,
    Effect.gen(function*() {
      const state = yield* SubscriptionRef.make<ReadonlyArray<PoolStats>>(
        specs.map((spec) => ({ type: spec.type, instances: spec.instances, consuming: 0, restarts: 0, restartDelaysMs: [] }))
      )
      for (const spec of specs) recordPool(spec.type, { instances: spec.instances, consuming: 0, prefetch: spec.prefetch })
      for (const [index, spec] of specs.entries()) {
        const update: Update = (f) =>
          SubscriptionRef.modify(state, (all) => {
            const next = all.map((stats, i) => (i === index ? f(stats) : stats))
            const stats = next[index]!
            recordPool(spec.type, { instances: stats.instances, consuming: stats.consuming, prefetch: spec.prefetch })
            if (stats.restarts > all[index]!.restarts) recordRestart(spec.type)
            return [undefined, next]
          })
        for (let instance = 1; instance <= spec.instances; instance++) {
          yield* Effect.forkScoped(supervise(spec, instance, update, options))
        }
        yield* Effect.logInfo(`broker pool ${spec.type}: ${spec.instances} instances, prefetch ${spec.prefetch}, routes ${spec.routes.join(", ")}`)
      }
      return BrokerPools.of({
        stats: SubscriptionRef.get(state),
        ready: state.changes.pipe(
          Stream.filter((all) => all.every((stats) => stats.consuming === stats.instances)),
          Stream.runHead,
          Effect.asVoid
        )
      })
    })
  )
