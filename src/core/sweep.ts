import { Duration, Effect, Layer, Schedule } from "effect"
import { Adapters } from "../adapters/adapters.js"

/** Records removed per call; a sweep calls again while a call removes this many. */
const BATCH = 1_000
/** At most this many calls per sweep, so one sweep stays bounded. */
const MAX_BATCHES = 100

/**
 * Every `intervalS` seconds, removes the idempotency records past their retention on every store of
 * the node. Safe on every node at once: each removal is conditional on the record being expired,
 * and a record removed twice is removed once. A store that is down is skipped until the next sweep.
 */
export const IdempotencySweepLive = (intervalS: number) =>
  intervalS === 0
    ? Layer.empty
    : Layer.scopedDiscard(Effect.gen(function*() {
      const adapters = yield* Adapters
      const sweepOne = (name: string, sweep: (limit: number) => Effect.Effect<number, { readonly message: string }>) =>
        Effect.iterate({ batches: 0, removed: 0, last: BATCH }, {
          while: (state) => state.last === BATCH && state.batches < MAX_BATCHES,
          body: (state) => Effect.map(sweep(BATCH), (removed) => ({ batches: state.batches + 1, removed: state.removed + removed, last: removed }))
        }).pipe(
          Effect.tap(({ removed }) => removed > 0 ? Effect.logInfo(`idempotency sweep ${name}: ${removed} expired records removed`) : Effect.void),
          Effect.catchAll((error) => Effect.logWarning(`idempotency sweep ${name}: ${error.message}`))
        )
      const sweepAll = Effect.forEach(Object.entries(adapters), ([name, adapter]) => sweepOne(name, adapter!.sweepExpired), { discard: true })
      yield* sweepAll.pipe(Effect.repeat(Schedule.spaced(Duration.seconds(intervalS))), Effect.delay(Duration.seconds(intervalS)), Effect.forkScoped)
    }))
