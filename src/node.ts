import { Effect, Layer, Ref } from "effect"
import type { BedsConfig } from "./config/schema.js"
import { roundMs, runIpl, type IplStepResult } from "./ipl/runner.js"
import { serviceSteps } from "./ipl/steps.js"
import { templatesStep } from "./ipl/templates.js"
import type { Template } from "./templates/schema.js"
import { NodeLive } from "./roles/node-layer.js"
import { defaultTemplatesDirectory, type StartupOptions } from "./startup.js"

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
  const templates = yield* Ref.make<ReadonlyArray<Template>>([])
  const report = yield* runIpl({
    env: config.env,
    stepTimeoutMs: config.ipl.step_timeout_ms,
    completed: [
      configStep,
      { name: "logging up", target: "stdout", ok: true, durationMs: roundMs(loggingDuration) }
    ],
    steps: [...serviceSteps(config), templatesStep(config, config.templates.directory ?? defaultTemplatesDirectory, templates)]
  })
  if (options.check) return report.failed.length === 0 ? 0 : 1

  return yield* Effect.scoped(Effect.gen(function*() {
    yield* Layer.build(NodeLive(config, yield* Ref.get(templates)))
    yield* Effect.logInfo(
      report.failed.length === 0 ? "node up; SIGINT or SIGTERM stops it" : "node up DEGRADED; SIGINT or SIGTERM stops it"
    )
    // Interrupted by the signal: this runs first, then the scope drains the brokers and closes connections.
    return yield* Effect.never.pipe(
      Effect.onInterrupt(() => Effect.logInfo("shutdown: signal received; draining in-flight messages"))
    )
  })).pipe(Effect.onInterrupt(() => Effect.logInfo("shutdown: done, exiting")))
})
