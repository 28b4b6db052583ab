import { Cause, Context, Duration, Effect, Exit, Layer, Ref } from "effect"
import { runBroker, type BrokerSpec } from "./broker.js"

export interface PoolStats {
  readonly type: string
  /** The configured size; the supervisor always brings the pool back to it. */
  readonly instances: number
  /** Instances consuming right now. */
  readonly consuming: number
  /** Instances that ended (a defect, a lost channel) and were replaced, since start. */
  readonly restarts: number
}

/** The node's broker pools, with counters an operator (and a test) can read. */
export class BrokerPools extends Context.Tag("beds/BrokerPools")<BrokerPools, {
  readonly stats: Effect.Effect<ReadonlyArray<PoolStats>>
}>() {}

export interface SupervisorOptions {
  readonly restartBaseDelayMs: number
  readonly restartMaxDelayMs: number
}

/**
 * Keeps one broker instance alive: whenever it ends other than by interruption, log why, count
 * the restart, wait (base, doubling, capped; back to base after an instance that ran longer than
 * the cap) and start a new one. The pool never shrinks.
 */
const supervise = (spec: BrokerSpec, instance: number, counters: Ref.Ref<{ consuming: number; restarts: number }>, options: SupervisorOptions) =>
  Effect.gen(function*() {
    let failuresInARow = 0
    while (true) {
      const [ranFor, exit] = yield* runBroker(spec, {
        onConsuming: Ref.update(counters, (c) => ({ ...c, consuming: c.consuming + 1 })),
        onStopped: Ref.update(counters, (c) => ({ ...c, consuming: c.consuming - 1 }))
      }).pipe(Effect.exit, Effect.timed)
      if (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)) return
      const restarts = yield* Ref.modify(counters, (c) => [c.restarts + 1, { ...c, restarts: c.restarts + 1 }])
      if (Duration.toMillis(ranFor) > options.restartMaxDelayMs) failuresInARow = 0
      const delayMs = Math.min(options.restartBaseDelayMs * 2 ** failuresInARow, options.restartMaxDelayMs)
      failuresInARow++
      const log = Exit.isFailure(exit) && Cause.isFailType(exit.cause) ? Effect.logWarning : Effect.logError
      yield* log(`broker ${spec.type}#${instance} ended; replacing it in ${delayMs} ms (restart ${restarts} of this type)`, exit._tag === "Failure" ? exit.cause : Cause.empty)
      yield* Effect.sleep(Duration.millis(delayMs))
    }
  }).pipe(Effect.annotateLogs({ broker: spec.type, instance }))

/** Starts every pool and keeps it at size until the layer's scope closes (shutdown drains them). */
export const BrokerPoolsLive = (specs: ReadonlyArray<BrokerSpec>, options: SupervisorOptions) =>
  Layer.scoped(
    BrokerPools,
    Effect.gen(function*() {
      const pools = yield* Effect.forEach(specs, (spec) =>
        Effect.map(Ref.make({ consuming: 0, restarts: 0 }), (counters) => ({ spec, counters })))
      for (const { counters, spec } of pools) {
        for (let instance = 1; instance <= spec.instances; instance++) {
          yield* Effect.forkScoped(supervise(spec, instance, counters, options))
        }
        yield* Effect.logInfo(`broker pool ${spec.type}: ${spec.instances} instances, prefetch ${spec.prefetch}, routes ${spec.routes.join(", ")}`)
      }
      return BrokerPools.of({
        stats: Effect.forEach(pools, ({ counters, spec }) =>
          Effect.map(Ref.get(counters), (c) => ({ type: spec.type, instances: spec.instances, ...c })))
      })
    })
  )
