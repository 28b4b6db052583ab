import { Effect, Layer, Option } from "effect"
import type { StartupOptions } from "./config/startup.js"
import type { BedsConfig } from "./config/schema.js"
import { makeIpl, roundMs, type IplStepResult } from "./ipl/runner.js"
import { serviceSteps } from "./ipl/steps.js"
import { templatesStep } from "./ipl/templates.js"
import { awaitServing, NodeLive } from "./roles/node-layer.js"

/**
 * The node once config is loaded and the logger is installed: announce, boot (IPL), then serve
 * until interrupted (SIGINT or SIGTERM). Returns the process exit code for `--check`. Everything
 * the IPL opens for the node (the adapters) lives in the node's scope and is served with.
 */
export const runNode = Effect.fn("Node.run")(function*(
  config: BedsConfig,
  options: StartupOptions,
  configStep: IplStepResult
) {
  const [loggingDuration] = yield* Effect.timed(
    Effect.logInfo(`BEDS starting: role ${config.node.role}, env ${config.env}, config ${config.sources.join(" + ")}`)
  )
  const ipl = yield* makeIpl({
    env: config.env,
    stepTimeoutMs: config.ipl.step_timeout_ms,
    completed: [configStep, { name: "logging up", target: "stdout", ok: true, durationMs: roundMs(loggingDuration) }]
  })
  for (const step of serviceSteps(config)) yield* ipl.step(step)

  return yield* Effect.scoped(Effect.gen(function*() {
    const found = Option.getOrElse(yield* ipl.step(templatesStep(config)), () => ({ templates: [], adapters: {} }))
    const report = yield* ipl.report
    if (options.check) return report.failed.length === 0 ? 0 : 1

    yield* Layer.build(NodeLive(config, found)).pipe(
      Effect.flatMap((node) => {
        const degraded = report.failed.length > 0
        const waiting = degraded && report.failed.some((step) => step.name === "rabbitmq")
          ? Effect.logWarning("node not serving yet: waiting for RabbitMQ")
          : Effect.void
        return waiting.pipe(
          Effect.zipRight(awaitServing.pipe(Effect.provide(node))),
          Effect.zipRight(Effect.logInfo(degraded ? "node up DEGRADED; SIGINT or SIGTERM stops it" : "node up; SIGINT or SIGTERM stops it"))
        )
      })
    )
    // Interrupted by the signal: this runs first, then the scope drains the brokers and closes connections.
    return yield* Effect.never.pipe(
      Effect.onInterrupt(() => Effect.logInfo("shutdown: signal received; draining in-flight messages"))
    )
  })).pipe(Effect.onInterrupt(() => Effect.logInfo("shutdown: done, exiting")))
})
