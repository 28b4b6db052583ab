import { Exit, type Effect } from "effect"

/**
 * The result of an effect that is already done, or undefined. `Effect.succeed` (and `Effect.die`)
 * are themselves Exits: the message path looks for them to settle a message (a read-cache hit)
 * without running a fiber for it, which was a measurable share of a cached read's CPU.
 */
export const alreadyDone = <A, E>(effect: Effect.Effect<A, E>): Exit.Exit<A, E> | undefined =>
  Exit.isExit(effect) ? (effect as Exit.Exit<A, E>) : undefined
