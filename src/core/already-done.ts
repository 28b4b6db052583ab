import { Effect, Exit } from "effect"

/**
 * The result of an effect that is already done, or undefined. `Effect.succeed` (and `Effect.die`)
 * are themselves Exits: the message path looks for them to settle a message (a read-cache hit)
 * without running a fiber for it, which was a measurable share of a cached read's CPU.
 */
export const alreadyDone = <A, E>(effect: Effect.Effect<A, E>): Exit.Exit<A, E> | undefined =>
  Exit.isExit(effect) ? (effect as Exit.Exit<A, E>) : undefined

/** `Effect.flatMap`, applied at once to an effect that already succeeded, so the result can stay done. */
export const thenNow = <A, E, B, E2>(effect: Effect.Effect<A, E>, f: (a: A) => Effect.Effect<B, E2>): Effect.Effect<B, E | E2> => {
  const done = alreadyDone(effect)
  return done !== undefined && Exit.isSuccess(done) ? f(done.value) : Effect.flatMap(effect, f)
}
