import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { createServer } from "node:http"
import type { PoolStats } from "../brokers/pool.js"
import type { BedsConfig } from "../config/schema.js"
import type { IplStepResult } from "../ipl/runner.js"
import type { WorkerReadiness } from "./worker-ipc.js"

/** What readiness is read from, once the node serves. */
export interface ServingState {
  readonly connected: Effect.Effect<boolean>
  readonly pools: Effect.Effect<ReadonlyArray<PoolStats>>
}

/** One worker process of a multi-process node, as the primary sees it. */
export interface WorkerView {
  readonly worker: number
  readonly pid: number | undefined
  readonly restarts: number
  /** What the worker answered; undefined when it is not running or gave no answer (`missing` says which). */
  readonly readiness: WorkerReadiness | undefined
  readonly missing: string
}

/** The workers of a multi-process node: how many brokers each runs, and how each is now. */
export interface WorkersState {
  readonly pools: ReadonlyArray<{ readonly type: string; readonly instances: number }>
  readonly views: Effect.Effect<ReadonlyArray<WorkerView>>
}

export interface Readiness {
  readonly ready: boolean
  /** What is off, in words; empty when ready. */
  readonly off: ReadonlyArray<string>
  readonly checks: {
    readonly ipl: { readonly done: boolean; readonly failed: ReadonlyArray<{ readonly step: string; readonly reason: string }> }
    /** Every worker's connection is open, on a node of several workers. */
    readonly rabbitmq: { readonly connected: boolean }
    /** Summed over the workers, on a node of several workers. */
    readonly pools: ReadonlyArray<{ readonly type: string; readonly instances: number; readonly consuming: number }>
    readonly draining: boolean
    /** Only on a node of several worker processes: each one's own readiness. */
    readonly workers?: ReadonlyArray<{ readonly worker: number; readonly pid: number | null; readonly ready: boolean; readonly restarts: number }>
  }
}

type Pools = ReadonlyArray<{ readonly type: string; readonly instances: number; readonly consuming: number }>

/** The serving part of readiness, from the node's own process or from its workers. */
const servingChecks = (serving: ServingState | WorkersState): Effect.Effect<{
  readonly connected: boolean
  readonly pools: Pools
  readonly off: ReadonlyArray<string>
  readonly workers?: Readiness["checks"]["workers"]
}> => {
  if ("connected" in serving) {
    return Effect.gen(function*() {
      const connected = yield* serving.connected
      const pools = (yield* serving.pools).map(({ consuming, instances, type }) => ({ type, instances, consuming }))
      const off = [
        ...(connected ? [] : ["rabbitmq: not connected"]),
        ...pools.filter((pool) => pool.consuming < pool.instances).map((pool) => `pool ${pool.type}: ${pool.consuming} of ${pool.instances} consuming`)
      ]
      return { connected, pools, off }
    })
  }
  return Effect.map(serving.views, (views) => ({
    connected: views.every((view) => view.readiness?.connected === true),
    pools: serving.pools.map(({ instances, type }) => ({
      type,
      instances: instances * views.length,
      consuming: views.reduce((sum, view) => sum + (view.readiness?.pools.find((pool) => pool.type === type)?.consuming ?? 0), 0)
    })),
    off: views.flatMap((view) =>
      view.readiness === undefined ? [`worker ${view.worker}: ${view.missing}`] : view.readiness.off.map((line) => `worker ${view.worker}: ${line}`)
    ),
    workers: views.map((view) => ({ worker: view.worker, pid: view.pid ?? null, ready: view.readiness?.ready === true, restarts: view.restarts }))
  }))
}

/**
 * The node's health as the HTTP endpoints tell it. Ready means: the IPL passed (every step ok; a
 * failed rabbitmq step counts only until the connection is open), the RabbitMQ connection is open,
 * every pool has all its instances consuming, and the node is not draining. On a node of several
 * worker processes the last three are every worker's (each asked by the primary). It is made before
 * the IPL runs (so /health/live answers from the start) and told what happened as the node boots,
 * serves and stops.
 */
export const makeNodeHealth = Effect.sync(() => {
  let failed: ReadonlyArray<IplStepResult> | undefined
  let serving: ServingState | WorkersState | undefined
  let draining = false
  const readiness = Effect.gen(function*() {
    const checks = serving === undefined ? undefined : yield* servingChecks(serving)
    // A failed rabbitmq step is superseded by the connection as it is now (it comes back by itself).
    const stillFailed = (failed ?? []).filter((step) => step.name !== "rabbitmq")
    const off = [
      ...(failed === undefined ? ["ipl: not done"] : stillFailed.map((step) => `ipl: step ${step.name} failed (${step.reason ?? "failed"})`)),
      ...(checks === undefined ? ["brokers: not started"] : checks.off),
      ...(draining ? ["draining: the node is stopping"] : [])
    ]
    const result: Readiness = {
      ready: off.length === 0,
      off,
      checks: {
        ipl: { done: failed !== undefined, failed: stillFailed.map((step) => ({ step: step.name, reason: step.reason ?? "failed" })) },
        rabbitmq: { connected: checks?.connected ?? false },
        pools: checks?.pools ?? [],
        draining,
        ...(checks?.workers === undefined ? {} : { workers: checks.workers })
      }
    }
    return result
  })
  return {
    iplDone: (report: { readonly failed: ReadonlyArray<IplStepResult> }) => Effect.sync(() => void (failed = report.failed)),
    serving: (state: ServingState | WorkersState) => Effect.sync(() => void (serving = state)),
    draining: Effect.sync(() => void (draining = true)),
    readiness
  }
})

export type NodeHealth = Effect.Effect.Success<typeof makeNodeHealth>

/** GET /health/live (200 while the process serves) and GET /health/ready (200 ready, 503 not, both with the checks as JSON). */
export const healthResponses = (config: BedsConfig, health: Pick<NodeHealth, "readiness">, startedAt: number) => ({
  live: Effect.sync(() =>
    HttpServerResponse.unsafeJson({
      live: true,
      node: config.node.id,
      role: config.node.role,
      env: config.env,
      uptimeS: Math.round((Date.now() - startedAt) / 1000)
    })),
  ready: Effect.map(health.readiness, (readiness) => HttpServerResponse.unsafeJson(readiness, { status: readiness.ready ? 200 : 503 }))
})

/**
 * The node's small HTTP server (`observability.http_port`): /health/live, /health/ready and GET
 * /metrics (Prometheus text: the node's, or on a node of several workers the primary's merged with
 * every worker's). Stopped with the node's scope.
 */
export const HealthServerLive = (config: BedsConfig, health: Pick<NodeHealth, "readiness">, metrics: Effect.Effect<string>, startedAt: number) => {
  const { live, ready } = healthResponses(config, health, startedAt)
  return HttpRouter.empty.pipe(
    HttpRouter.get("/health/live", live),
    HttpRouter.get("/health/ready", ready),
    HttpRouter.get("/metrics", Effect.map(metrics, (text) => HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" }))),
    HttpServer.serve(),
    Layer.provide(NodeHttpServer.layer(() => createServer(), { port: config.observability.http_port, host: config.observability.http_host }))
  )
}
