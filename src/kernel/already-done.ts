import { Exit, type Effect } from "effect"

/**
 * The result of an effect that is already done, or undefined.
 *
 * This rests on Effect 3's representation: `Effect.succeed`, `Effect.fail` and `Effect.die` return
 * an `Exit`, and an `Exit` is itself an `Effect`. Any combinator (`map`, `tap`, `timeout`) returns a
 * new, not-yet-run effect, so only an effect built by one of those constructors is seen as done.
 * The message path (brokers/entry.ts) looks here once per message so that an operation that needs
 * no work (a read-cache hit) is settled without a fiber; the contract is written on the Dispatch
 * port (core/dispatch.ts) and guarded by test/unit/fast-path.test.ts. If a future Effect stops
 * making `succeed` an Exit, this returns undefined and every message takes a fiber: slower, never
 * wrong.
 */
export const alreadyDone = <A, E, R>(effect: Effect.Effect<A, E, R>): Exit.Exit<A, E> | undefined =>
  Exit.isExit(effect) ? (effect as Exit.Exit<A, E>) : undefined
