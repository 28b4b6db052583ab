import { Effect, Layer } from "effect"
import type { BedsConfig } from "./config/schema.js"
import { roundMs, runIpl, type IplStepResult } from "./ipl/runner.js"
import { serviceSteps } from "./ipl/steps.js"
import { NodeLive } from "./roles/node-layer.js"
import type { StartupOptions } from "./startup.js"

/**
 * The node once config is loaded and the logger is installed: announce, boot, then serve until
 * interrupted (SIGINT or SIGTERM). Returns the process exit code for `--check`.
 */
export const runNode = Effect.fn("Node.run")(function*(
  config: BedsConfig,
  options: StartupOptions,
  configStep: IplStepResult
) {
  const [loggingDuration] = yield* Effect.timed(
    Effect.logInfo(`BEDS starting: role ${config.node.role}, env ${config.env}, config ${config.sources.join(" + ")}`)
  )
  const report = yield* runIpl({
    env: config.env,
    stepTimeoutMs: config.ipl.step_timeout_ms,
    completed: [
      configStep,
      { name: "logging up", target: "stdout", ok: true, durationMs: roundMs(loggingDuration) }
    ],
    steps: serviceSteps(config)
  })
  if (options.check) return report.failed.length === 0 ? 0 : 1

  return yield* Effect.scoped(Effect.gen(function*() {
    yield* Layer.build(NodeLive(config))
    yield* Effect.logInfo(
      report.failed.length === 0 ? "node up; SIGINT or SIGTERM stops it" : "node up DEGRADED; SIGINT or SIGTERM stops it"
    )
    // Interrupted by the signal: this runs first, then the scope drains the brokers and closes connections.
    return yield* Effect.never.pipe(
      Effect.onInterrupt(() => Effect.logInfo("shutdown: signal received; draining in-flight messages"))
    )
  })).pipe(Effect.onInterrupt(() => Effect.logInfo("shutdown: done, exiting")))
})
