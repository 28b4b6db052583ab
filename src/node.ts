import { Effect, Layer, Option } from "effect"
import { BrokerPools } from "./brokers/pool.js"
import type { BedsConfig } from "./config/schema.js"
import type { StartupOptions } from "./config/startup.js"
import { ServiceUnavailable } from "./kernel/errors.js"
import { makeIpl, roundMs, type IplStepResult } from "./ipl/runner.js"
import { serviceSteps } from "./ipl/steps.js"
import { templatesStep } from "./ipl/templates.js"
import { GatewayLive } from "./roles/gateway.js"
import { HealthServerLive, makeNodeHealth, type NodeHealth } from "./roles/health.js"
import { awaitServing, brokerSpecs, NodeLive } from "./roles/node-layer.js"
import { PrometheusMetrics } from "./roles/telemetry.js"
import { startWorkers, workerCount } from "./roles/workers.js"
import { mergePrometheus } from "./telemetry/prometheus-merge.js"
import { loadTemplates } from "./templates/load.js"
import { AmqpConnection } from "./transport/connection.js"

/**
 * The node once config is loaded and the logger is installed: announce, start the health server,
 * boot (IPL), then serve until interrupted (SIGINT or SIGTERM). Returns the process exit code for
 * `--check`. With `node.workers` above 1 this process is the primary: it boots, then starts and
 * supervises the worker processes that serve (roles/workers.ts), and its health server speaks for
 * all of them. With 1 it serves itself, and everything the IPL opens (the adapters) lives in the
 * node's scope and is served with. The health server is opened first, so it answers through the
 * boot and the drain.
 * (A plain function, not Effect.fn: a span here would be the parent of everything the node does.)
 */
export const runNode = (config: BedsConfig, options: StartupOptions, configStep: IplStepResult, entry: string) =>
  Effect.scoped(Effect.gen(function*() {
    const startedAt = Date.now()
    const workers = options.check ? 1 : workerCount(config)
    const [loggingDuration] = yield* Effect.timed(
      Effect.logInfo(`BEDS starting: role ${config.node.role}, env ${config.env}, config ${config.sources.join(" + ")}` +
        (workers > 1 ? `, ${workers} worker processes` : ""))
    )
    const ipl = yield* makeIpl({
      env: config.env,
      stepTimeoutMs: config.ipl.step_timeout_ms,
      completed: [configStep, { name: "logging up", target: "stdout", ok: true, durationMs: roundMs(loggingDuration) }]
    })
    const health = yield* makeNodeHealth
    const { text: ownMetrics } = yield* PrometheusMetrics
    // The node's own metrics; the primary of several workers adds theirs once they run.
    let metrics: Effect.Effect<string> = ownMetrics
    if (config.observability.http_port > 0 && !options.check) {
      const target = `http://${config.observability.http_host}:${config.observability.http_port}`
      yield* ipl.step({
        name: "http server",
        target,
        run: Layer.build(HealthServerLive(config, health, Effect.suspend(() => metrics), startedAt)).pipe(
          Effect.asVoid,
          Effect.mapError((error) => new ServiceUnavailable({ target, reason: error.message }))
        )
      })
    }
    for (const step of serviceSteps(config)) yield* ipl.step(step)
    // The primary of several workers opens the adapters only to check them: its workers serve.
    const templates = ipl.step(templatesStep(config))
    const found = Option.getOrElse(workers > 1 ? yield* Effect.scoped(templates) : yield* templates, () => ({ templates: [], adapters: {} }))
    if (config.gateway.enabled && !options.check) {
      const target = `http://${config.gateway.host}:${config.gateway.port}`
      yield* ipl.step({
        name: "http gateway",
        target,
        run: loadTemplates(config.templates.directory).pipe(
          Effect.flatMap((loaded) => Layer.build(GatewayLive(config, loaded.map((entry) => entry.template), health, startedAt))),
          Effect.asVoid,
          Effect.mapError((error) => new ServiceUnavailable({ target, reason: error.message }))
        )
      })
    }
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
    const degraded = report.failed.length > 0
    if (degraded && report.failed.some((step) => step.name === "rabbitmq")) yield* Effect.logWarning("node not serving yet: waiting for RabbitMQ")
    if (workers > 1) {
      const started = yield* startWorkers({
        entry,
        count: workers,
        restartBaseDelayMs: config.supervisor.restart_base_delay_ms,
        restartMaxDelayMs: config.supervisor.restart_max_delay_ms,
        drainTimeoutMs: config.shutdown.drain_timeout_ms
      })
      metrics = Effect.zipWith(ownMetrics, started.metrics, mergePrometheus)
      yield* health.serving({ pools: brokerSpecs(config).map(({ instances, type }) => ({ type, instances })), views: started.views })
      yield* started.allServing
    } else {
      const node = yield* Layer.build(NodeLive(config, found))
      yield* health.serving({
        connected: Effect.flatMap(AmqpConnection, (amqp) => amqp.connected).pipe(Effect.provide(node)),
        pools: Effect.flatMap(BrokerPools, (pools) => pools.stats).pipe(Effect.provide(node))
      })
      yield* awaitServing.pipe(Effect.provide(node))
    }
    const up = workers > 1 ? `node up${degraded ? " DEGRADED" : ""}; ${workers} workers serving` : `node up${degraded ? " DEGRADED" : ""}`
    yield* Effect.logInfo(`${up}; SIGINT or SIGTERM stops it`)
    return yield* serveUntilSignalled(health)
  })).pipe(Effect.onInterrupt(() => Effect.logInfo("shutdown: done, exiting")))

// Interrupted by the signal: this runs first (readiness turns false), then the scope drains the
// brokers (or the workers), closes the connections and, last, the health server.
const serveUntilSignalled = (health: NodeHealth) =>
  Effect.never.pipe(
    Effect.onInterrupt(() => Effect.zipRight(health.draining, Effect.logInfo("shutdown: signal received; draining in-flight messages")))
  )
