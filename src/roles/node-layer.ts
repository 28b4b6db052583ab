import { Layer } from "effect"
import type { BrokerSpec } from "../brokers/broker.js"
import { AdaptersLive } from "../adapters/adapters.js"
import { FactoryLive } from "../core/factory.js"
import { ReadCacheInvalidationLive, ReadCacheLive } from "../core/read-cache.js"
import { LogPublisherLive } from "../transport/publisher.js"
import { TemplateRegistryLive } from "../templates/registry.js"
import type { Template } from "../templates/schema.js"
import { MetricsLogLive } from "../brokers/metrics.js"
import { BrokerPoolsLive } from "../brokers/pool.js"
import type { BedsConfig } from "../config/schema.js"
import { AmqpConnectionLive } from "../transport/connection.js"
import { roleBrokers } from "./roles.js"

/** The request-serving broker pools of the node's role: those whose config binds routes. */
export const brokerSpecs = (config: BedsConfig): ReadonlyArray<BrokerSpec> =>
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
      }
    }))

/**
 * What a running node is, chosen by its role: its broker pools on one reconnecting RabbitMQ
 * connection, dispatching through the factory to the adapters of the templates it serves.
 */
export const NodeLive = (config: BedsConfig, templates: ReadonlyArray<Template>) =>
  MetricsLogLive(config.metrics.interval_s).pipe(
    Layer.provideMerge(BrokerPoolsLive(brokerSpecs(config), {
      restartBaseDelayMs: config.supervisor.restart_base_delay_ms,
      restartMaxDelayMs: config.supervisor.restart_max_delay_ms
    })),
    Layer.provide(FactoryLive({ node: config.node.id, env: config.env })),
    Layer.provide(Layer.mergeAll(
      TemplateRegistryLive(templates),
      AdaptersLive(config, new Set(templates.map((t) => t.adapter))),
      LogPublisherLive
    )),
    // The cache invalidation listener runs beside the pools, on the same connection.
    Layer.provideMerge(ReadCacheInvalidationLive),
    Layer.provideMerge(ReadCacheLive),
    Layer.provide(AmqpConnectionLive(config.rabbitmq, {
      name: `beds ${config.node.id} ${config.node.role}`,
      connectTimeoutMs: config.ipl.step_timeout_ms
    }))
  )
