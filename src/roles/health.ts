import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createServer } from "node:http"
import type { PoolStats } from "../brokers/pool.js"
import type { BedsConfig } from "../config/schema.js"
import type { IplStepResult } from "../ipl/runner.js"
import { PrometheusMetrics } from "./telemetry.js"

/** What readiness is read from, once the node serves. */
export interface ServingState {
  readonly connected: Effect.Effect<boolean>
  readonly pools: Effect.Effect<ReadonlyArray<PoolStats>>
}

export interface Readiness {
  readonly ready: boolean
  /** What is off, in words; empty when ready. */
  readonly off: ReadonlyArray<string>
  readonly checks: {
    readonly ipl: { readonly done: boolean; readonly failed: ReadonlyArray<{ readonly step: string; readonly reason: string }> }
    readonly rabbitmq: { readonly connected: boolean }
    readonly pools: ReadonlyArray<{ readonly type: string; readonly instances: number; readonly consuming: number }>
    readonly draining: boolean
  }
}

/**
 * The node's health as the HTTP endpoints tell it. Ready means: the IPL passed (every step ok; a
 * failed rabbitmq step counts only until the connection is open), the RabbitMQ connection is open,
 * every pool has all its instances consuming, and the node is not draining. It is made before the IPL runs (so /health/live answers from the start) and told what
 * happened as the node boots, serves and stops.
 */
export const makeNodeHealth = Effect.sync(() => {
  let failed: ReadonlyArray<IplStepResult> | undefined
  let serving: ServingState | undefined
  let draining = false
  const readiness = Effect.gen(function*() {
    const connected = serving === undefined ? false : yield* serving.connected
    const pools = serving === undefined ? [] : yield* serving.pools
    // A failed rabbitmq step is superseded by the connection as it is now (it comes back by itself).
    const stillFailed = (failed ?? []).filter((step) => step.name !== "rabbitmq")
    const off = [
      ...(failed === undefined ? ["ipl: not done"] : stillFailed.map((step) => `ipl: step ${step.name} failed (${step.reason ?? "failed"})`)),
      ...(serving === undefined ? ["brokers: not started"] : []),
      ...(serving !== undefined && !connected ? ["rabbitmq: not connected"] : []),
      ...pools.filter((pool) => pool.consuming < pool.instances).map((pool) => `pool ${pool.type}: ${pool.consuming} of ${pool.instances} consuming`),
      ...(draining ? ["draining: the node is stopping"] : [])
    ]
    const result: Readiness = {
      ready: off.length === 0,
      off,
      checks: {
        ipl: { done: failed !== undefined, failed: stillFailed.map((step) => ({ step: step.name, reason: step.reason ?? "failed" })) },
        rabbitmq: { connected },
        pools: pools.map(({ consuming, instances, type }) => ({ type, instances, consuming })),
        draining
      }
    }
    return result
  })
  return {
    iplDone: (report: { readonly failed: ReadonlyArray<IplStepResult> }) => Effect.sync(() => void (failed = report.failed)),
    serving: (state: ServingState) => Effect.sync(() => void (serving = state)),
    draining: Effect.sync(() => void (draining = true)),
    readiness
  }
})

export type NodeHealth = Effect.Effect.Success<typeof makeNodeHealth>

/**
 * The node's small HTTP server (`observability.http_port`): GET /health/live (200 while the
 * process serves), GET /health/ready (200 ready, 503 not, both with the checks as JSON) and GET
 * /metrics (Prometheus text). Stopped with the node's scope.
 */
export const HealthServerLive = (config: BedsConfig, health: NodeHealth, startedAt: number) =>
  HttpRouter.empty.pipe(
    HttpRouter.get("/health/live", Effect.sync(() =>
      HttpServerResponse.unsafeJson({
        live: true,
        node: config.node.id,
        role: config.node.role,
        env: config.env,
        uptimeS: Math.round((Date.now() - startedAt) / 1000)
      }))),
    HttpRouter.get("/health/ready", Effect.map(health.readiness, (readiness) => HttpServerResponse.unsafeJson(readiness, { status: readiness.ready ? 200 : 503 }))),
    HttpRouter.get("/metrics", Effect.flatMap(PrometheusMetrics, (metrics) =>
      Effect.map(metrics.text, (text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" })))),
    HttpServer.serve(),
    Layer.provide(NodeHttpServer.layer(() => createServer(), { port: config.observability.http_port, host: config.observability.http_host }))
  )
