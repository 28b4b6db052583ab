import { Effect } from "effect"

/**
 * The deliveries a broker has taken and not yet settled (replied and acked, dead-lettered, or left
 * for RabbitMQ to deliver again). A message settled without a fiber is counted too, so a broker
 * that stops waits for every one of them, not only for those with a fiber.
 */
export const makeInFlight = () => {
  let count = 0
  let waiting: Array<() => void> = []
  return {
    add: () => void count++,
    remove: () => {
      count--
      if (count > 0) return
      const ready = waiting
      waiting = []
      for (const resume of ready) resume()
    },
    size: () => count,
    /** Completes once nothing is in flight. */
    drained: Effect.async<void>((resume) => {
      if (count === 0) return resume(Effect.void)
      const onDrained = () => resume(Effect.void)
      waiting.push(onDrained)
      return Effect.sync(() => {
        waiting = waiting.filter((other) => other !== onDrained)
      })
    })
  }
}
