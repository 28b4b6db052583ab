import { Duration, Effect, Layer, Schedule } from "effect"
import { BrokerPools } from "./pool.js"

const mb = (bytes: number) => Math.round(bytes / 1024 / 10.24) / 100

/**
 * Every `intervalS` seconds, one log line "metrics" with the process's memory and each pool's
 * size, consumers and restarts: what an operator (or the benchmark) watches for leaks and churn.
 */
export const MetricsLogLive = (intervalS: number) =>
  intervalS === 0
    ? Layer.empty
    : Layer.scopedDiscard(Effect.gen(function*() {
      const pools = yield* BrokerPools
      const line = Effect.gen(function*() {
        // Under --expose-gc (the benchmark runs the node so) collect first: heap is then live memory,
        // and a slope over time means a leak rather than the collector's timing.
        ;(globalThis as { gc?: () => void }).gc?.()
        const memory = process.memoryUsage()
        const stats = yield* pools.stats
        yield* Effect.logInfo("metrics").pipe(Effect.annotateLogs({
          rss_mb: mb(memory.rss),
          heap_used_mb: mb(memory.heapUsed),
          heap_total_mb: mb(memory.heapTotal),
          pools: stats.map((s) => `${s.type}:${s.consuming}/${s.instances} restarts ${s.restarts}`).join(", ")
        }))
      })
      yield* line.pipe(Effect.repeat(Schedule.spaced(Duration.seconds(intervalS))), Effect.forkScoped)
    }))
