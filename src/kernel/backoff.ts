import { Duration, Schedule } from "effect"

/**
 * The one backoff of BEDS: waits `baseMs`, then doubling, never more than `maxMs`; its output is
 * the delay it chose. Used by the broker supervisor, the RabbitMQ reconnect, the transient retry
 * of operations and every listener that comes back after a lost connection.
 */
export const cappedExponential = (baseMs: number, maxMs: number): Schedule.Schedule<Duration.Duration> =>
  Schedule.exponential(Duration.millis(baseMs)).pipe(
    Schedule.union(Schedule.spaced(Duration.millis(maxMs))),
    Schedule.delays
  )
