import { Deferred, Duration, Effect, Exit, Layer, Stream } from "effect"
import { BrokerPools } from "../brokers/pool.js"
import type { BedsConfig } from "../config/schema.js"
import { ServiceUnavailable } from "../kernel/errors.js"
import { IplFailed, type IplStepResult } from "../ipl/runner.js"
import { templatesStep, type Found } from "../ipl/templates.js"
import { AmqpConnection } from "../transport/connection.js"
import { makeNodeHealth } from "./health.js"
import { awaitServing, NodeLive } from "./node-layer.js"
import { ParentChannel } from "./parent.js"
import { PrometheusMetrics } from "./telemetry.js"

/**
 * One worker process of a multi-process node (src/roles/workers.ts starts it as `--worker={n}`):
 * the role's broker pools on a RabbitMQ connection of its own. The primary ran the IPL; a worker
 * only opens what it serves with (the templates step: templates, adapters and their objects), with
 * the IPL's rule: in prod a failure ends the worker (exit 1; the primary replaces it), in dev and qa
 * it serves what it has. It tells the primary when it serves, answers its questions (readiness,
 * metrics), and drains and exits 0 when told to, on SIGINT or SIGTERM, or when its primary is gone.
 */
export const runWorker = (config: BedsConfig, worker: number) =>
  Effect.scoped(Effect.gen(function*() {
    const parent = yield* ParentChannel
    const { text: metricsText } = yield* PrometheusMetrics
    const health = yield* makeNodeHealth
    const drainAsked = yield* Deferred.make<void>()
    yield* parent.messages.pipe(
      Stream.runForEach((message) => {
        switch (message._tag) {
          case "Undecodable":
            return Effect.logWarning(`a message from the primary that does not decode was dropped: ${message.reason}`)
          case "Drain":
            return Deferred.succeed(drainAsked, undefined)
          case "Query":
            return message.what === "readiness"
              ? Effect.flatMap(health.readiness, (readiness) =>
                parent.send({
                  _tag: "Readiness",
                  id: message.id,
                  readiness: { ready: readiness.ready, off: readiness.off, connected: readiness.checks.rabbitmq.connected, pools: readiness.checks.pools }
                }))
              : Effect.flatMap(metricsText, (text) => parent.send({ _tag: "Metrics", id: message.id, text }))
        }
      }),
      Effect.forkScoped
    )

    const serve = Effect.gen(function*() {
      const { failed, found } = yield* workerTemplates(config)
      yield* health.iplDone({ failed })
      const node = yield* Layer.build(NodeLive(config, found, worker))
      yield* health.serving({
        connected: Effect.flatMap(AmqpConnection, (amqp) => amqp.connected).pipe(Effect.provide(node)),
        pools: Effect.flatMap(BrokerPools, (pools) => pools.stats).pipe(Effect.provide(node))
      })
      yield* awaitServing.pipe(Effect.provide(node))
      yield* parent.send({ _tag: "Serving" })
      yield* Effect.logInfo(`worker ${worker} serving`)
    })
    const stopped = Effect.raceFirst(
      Effect.as(Deferred.await(drainAsked), "drain asked by the primary"),
      Effect.as(parent.gone, "the primary is gone")
    )
    // Whichever comes first; what `serve` opened is in this scope, which drains the brokers as it closes.
    const why = yield* Effect.raceFirst(Effect.zipRight(serve, Effect.never), stopped).pipe(
      Effect.onInterrupt(() => Effect.zipRight(health.draining, Effect.logInfo("shutdown: signal received; draining in-flight messages")))
    )
    yield* health.draining
    yield* Effect.logInfo(`shutdown: ${why}; draining in-flight messages`)
    return 0
  })).pipe(
    Effect.onExit((exit) => Exit.isFailure(exit) ? Effect.void : Effect.logInfo("shutdown: done, exiting")),
    Effect.onInterrupt(() => Effect.logInfo("shutdown: done, exiting")),
    Effect.annotateLogs({ worker })
  )

/** The templates step as a worker runs it: what to serve with, and what failed (for readiness). */
const workerTemplates = (config: BedsConfig) => {
  const step = templatesStep(config)
  const failedWith = (reason: string) => {
    const result: IplStepResult = { name: step.name, target: step.target, ok: false, durationMs: 0, reason }
    return config.env === "prod"
      ? Effect.fail(new IplFailed({ step: `${step.name} (worker)`, target: step.target, reason }))
      : Effect.as(Effect.logWarning(`templates: ${reason}; serving what there is`), [result])
  }
  const none: Found = { templates: [], adapters: {} }
  return step.run.pipe(
    Effect.timeoutFail({
      duration: Duration.millis(config.ipl.step_timeout_ms),
      onTimeout: () => new ServiceUnavailable({ target: step.target, reason: `no answer within ${config.ipl.step_timeout_ms} ms` })
    }),
    Effect.map((found) => ({ found, failed: [] as ReadonlyArray<IplStepResult> })),
    Effect.catchTags({
      StepDegraded: (degraded) => Effect.map(failedWith(degraded.reason), (failed) => ({ found: degraded.value, failed })),
      ServiceUnavailable: (error) => Effect.map(failedWith(error.reason), (failed) => ({ found: none, failed }))
    })
  )
}
