import { Effect, Layer } from "effect"
import { Adapters } from "../adapters/adapters.js"
import type { BrokerSpec } from "../brokers/broker.js"
import { CacheInvalidation } from "../brokers/cache-invalidation.js"
import { DeadLetterWatchLive } from "../brokers/dead-letter-watch.js"
import { MetricsLogLive } from "../brokers/metrics.js"
import { BrokerPools, BrokerPoolsLive } from "../brokers/pool.js"
import { roleBrokers } from "../config/roles.js"
import { Trust } from "../config/trust.js"
import type { BedsConfig } from "../config/schema.js"
import { FactoryLive } from "../core/factory.js"
import { IdempotencySweepLive } from "../core/sweep.js"
import { ReadCache } from "../core/read-cache.js"
import type { Found } from "../ipl/templates.js"
import { TemplateRegistryLive } from "../templates/registry.js"
import { AmqpConnectionLive } from "../transport/connection.js"
import { LogPublisher } from "../transport/publisher.js"
import { JOB_ROUTE } from "../protocol/routing.js"

/** The request-serving broker pools of the node's role: those whose config binds routes. */
export const brokerSpecs = (config: BedsConfig, worker?: number): ReadonlyArray<BrokerSpec> =>
  roleBrokers[config.node.role]
    .filter((type) => config.brokers[type].routes.length > 0)
    .map((type) => ({
      type,
      instances: config.brokers[type].instances,
      prefetch: config.brokers[type].prefetch,
      routes: config.brokers[type].routes,
      queueType: config.rabbitmq.queue_type,
      drainTimeoutMs: config.shutdown.drain_timeout_ms,
      retry: {
        transientRetries: config.retry.transient_retries,
        retryBaseDelayMs: config.retry.base_delay_ms,
        retryMaxDelayMs: config.retry.max_delay_ms
      },
      ...(worker === undefined ? {} : { worker })
    }))

/**
 * What a running node is, chosen by its role: its broker pools on one reconnecting RabbitMQ
 * connection, dispatching through the factory to the adapters (built once, by the IPL's templates
 * step) of the templates it serves, and the cache invalidation listener beside them. In a worker
 * process of a multi-process node (`worker`), all of it is that worker's, on its own connection.
 */
export const NodeLive = (config: BedsConfig, found: Found, worker?: number) =>
  Layer.mergeAll(
    MetricsLogLive(config.metrics.interval_s),
    IdempotencySweepLive(config.idempotency.sweep_interval_s),
    DeadLetterWatchLive(brokerSpecs(config).map((spec) => spec.type), {
      warnLength: config.dead_letters.warn_length,
      intervalS: config.dead_letters.check_interval_s
    })
  ).pipe(
    Layer.provideMerge(BrokerPoolsLive(brokerSpecs(config, worker), {
      restartBaseDelayMs: config.supervisor.restart_base_delay_ms,
      restartMaxDelayMs: config.supervisor.restart_max_delay_ms
    })),
    Layer.provide(FactoryLive({ node: config.node.id, env: config.env }, {
      idempotencyRetentionS: config.idempotency.retention_h * 3600,
      tracing: config.tracing.enabled,
      tickets: {
        settings: config.tickets,
        runsJobs: brokerSpecs(config).some((spec) => spec.routes.includes(JOB_ROUTE)),
        retry: { transientRetries: config.retry.transient_retries, baseDelayMs: config.retry.base_delay_ms, maxDelayMs: config.retry.max_delay_ms }
      }
    })),
    Layer.provideMerge(Layer.mergeAll(TemplateRegistryLive(found.templates), Layer.succeed(Adapters, found.adapters), LogPublisher.Default)),
    Layer.provideMerge(CacheInvalidation.Default),
    Layer.provideMerge(Trust.layer(config)),
    Layer.provideMerge(ReadCache.Default),
    Layer.provideMerge(AmqpConnectionLive(config.rabbitmq, {
      name: `beds ${config.node.id} ${config.node.role}${worker === undefined ? "" : ` worker ${worker}`}`,
      connectTimeoutMs: config.ipl.step_timeout_ms
    }))
  )

/**
 * Completes once the node serves: every pool's queues declared, bound and consumed, and the cache
 * invalidation listener bound. Nothing says the node is up before this.
 */
export const awaitServing = Effect.zipRight(
  Effect.flatMap(BrokerPools, (pools) => pools.ready),
  Effect.flatMap(CacheInvalidation, (listener) => listener.ready)
)
