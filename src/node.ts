import { Effect, Layer, Option } from "effect"
import { BrokerPools } from "./brokers/pool.js"
import type { BedsConfig } from "./config/schema.js"
import type { StartupOptions } from "./config/startup.js"
import { ServiceUnavailable } from "./kernel/errors.js"
import { makeIpl, roundMs, type IplStepResult } from "./ipl/runner.js"
import { serviceSteps } from "./ipl/steps.js"
import { templatesStep } from "./ipl/templates.js"
import { HealthServerLive, makeNodeHealth } from "./roles/health.js"
import { awaitServing, NodeLive } from "./roles/node-layer.js"
import { AmqpConnection } from "./transport/connection.js"

/**
 * The node once config is loaded and the logger is installed: announce, start the health server,
 * boot (IPL), then serve until interrupted (SIGINT or SIGTERM). Returns the process exit code for
 * `--check`. Everything the IPL opens for the node (the adapters) lives in the node's scope and is
 * served with; the health server is opened first, so it answers through the boot and the drain.
 * (A plain function, not Effect.fn: a span here would be the parent of everything the node does.)
 */
export const runNode = (config: BedsConfig, options: StartupOptions, configStep: IplStepResult) =>
  Effect.scoped(Effect.gen(function*() {
    const startedAt = Date.now()
    const [loggingDuration] = yield* Effect.timed(
      Effect.logInfo(`BEDS starting: role ${config.node.role}, env ${config.env}, config ${config.sources.join(" + ")}`)
    )
    const ipl = yield* makeIpl({
      env: config.env,
      stepTimeoutMs: config.ipl.step_timeout_ms,
      completed: [configStep, { name: "logging up", target: "stdout", ok: true, durationMs: roundMs(loggingDuration) }]
    })
    const health = yield* makeNodeHealth
    if (config.observability.http_port > 0 && !options.check) {
      const target = `http://${config.observability.http_host}:${config.observability.http_port}`
      yield* ipl.step({
        name: "http server",
        target,
        run: Layer.build(HealthServerLive(config, health, startedAt)).pipe(
          Effect.asVoid,
          Effect.mapError((error) => new ServiceUnavailable({ target, reason: error.message }))
        )
      })
    }
    for (const step of serviceSteps(config)) yield* ipl.step(step)
    const found = Option.getOrElse(yield* ipl.step(templatesStep(config)), () => ({ templates: [], adapters: {} }))
    const report = yield* ipl.report
    yield* health.iplDone(report)
    if (options.check) return report.failed.length === 0 ? 0 : 1

    // Loud on purpose: a node that takes unsigned requests runs them for anybody who can publish.
    if (config.trust.anonymous) {
      yield* Effect.logWarning(
        "TRUST OFF: trust.anonymous is on; unsigned requests are accepted and run with no caller (operations open to \"*\" only). Never in prod."
      )
    }
    if (config.trust.node_key === undefined) {
      yield* Effect.logWarning("trust.node_key is unset: this node's events on beds.logs go unsigned, and nodes that hold node keys drop them")
    }
    const node = yield* Layer.build(NodeLive(config, found))
    yield* health.serving({
      connected: Effect.flatMap(AmqpConnection, (amqp) => amqp.connected).pipe(Effect.provide(node)),
      pools: Effect.flatMap(BrokerPools, (pools) => pools.stats).pipe(Effect.provide(node))
    })
    const degraded = report.failed.length > 0
    if (degraded && report.failed.some((step) => step.name === "rabbitmq")) yield* Effect.logWarning("node not serving yet: waiting for RabbitMQ")
    yield* awaitServing.pipe(Effect.provide(node))
    yield* Effect.logInfo(degraded ? "node up DEGRADED; SIGINT or SIGTERM stops it" : "node up; SIGINT or SIGTERM stops it")
    // Interrupted by the signal: this runs first (readiness turns false), then the scope drains the
    // brokers, closes the connections and, last, the health server.
    return yield* Effect.never.pipe(
      Effect.onInterrupt(() => Effect.zipRight(health.draining, Effect.logInfo("shutdown: signal received; draining in-flight messages")))
    )
  })).pipe(Effect.onInterrupt(() => Effect.logInfo("shutdown: done, exiting")))
