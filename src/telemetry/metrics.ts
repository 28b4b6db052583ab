import { Metric, MetricBoundaries, MetricKey, type MetricKeyType, MetricLabel } from "effect"

// The node's metrics, as Effect Metrics (exported through the OpenTelemetry metrics SDK to the
// Prometheus endpoint, roles/http.ts; names and units as docs/observability.md lists them). Names
// follow the OpenTelemetry conventions where one exists (messaging.*, db.client.*), `beds.*`
// otherwise; a `unit` tag gives the OpenTelemetry unit (the Prometheus name gets its suffix).
//
// On the per-message path a metric is updated with a plain call (`unsafeUpdate`) on a metric made
// once per label set and kept here: no Effect, no tag hashing per message (BENCHMARKS.md).

const seconds = MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 16 })

const requests = MetricKey.counter("beds.requests", { description: "Requests handled, by template, operation, outcome and error code", incremental: true })
const processDuration = MetricKey.histogram("messaging.process.duration", seconds, "Time from a request's delivery to its settlement (reply and ack)")
const messageAge = MetricKey.histogram("beds.message.age", seconds, "Time from a request's publish (its x-beds-sent-at header) to its delivery")
const retries = MetricKey.counter("beds.retries", { description: "Transient failures run again", incremental: true })
const redeliveries = MetricKey.counter("beds.redeliveries", { description: "Deliveries RabbitMQ marked redelivered", incremental: true })
const deadLetters = MetricKey.counter("beds.dead_letters", { description: "Requests dead-lettered, by code", incremental: true })
const deadlineMisses = MetricKey.counter("beds.deadline_misses", { description: "Requests answered deadline_exceeded", incremental: true })
const cacheHits = MetricKey.counter("beds.cache.hits", { description: "Fetches answered from the read cache", incremental: true })
const cacheMisses = MetricKey.counter("beds.cache.misses", { description: "Fetches of a cached template that went to the store", incremental: true })
const cacheInvalidations = MetricKey.counter("beds.cache.invalidations", { description: "Read cache invalidations applied", incremental: true })
const eventsRejected = MetricKey.counter("beds.events.rejected", { description: "Events on beds.logs dropped unapplied: unsigned, forged or too old, by reason", incremental: true })
const dbDuration = MetricKey.histogram("db.client.operation.duration", seconds, "Duration of database calls, by store, object and operation")
const poolInstances = MetricKey.gauge("beds.pool.instances", { description: "Broker instances a pool is configured for" })
const poolConsuming = MetricKey.gauge("beds.pool.consuming", { description: "Broker instances consuming now" })
const poolRestarts = MetricKey.counter("beds.pool.restarts", { description: "Broker instances replaced", incremental: true })
const poolInFlight = MetricKey.gauge("beds.pool.in_flight", { description: "Deliveries taken and not yet settled" })
const poolPrefetch = MetricKey.gauge("beds.pool.prefetch_capacity", { description: "Deliveries the consuming instances may hold (prefetch x consuming)" })
const connectionUp = MetricKey.gauge("beds.rabbitmq.connection.up", { description: "1 while the node's RabbitMQ connection is open" })
const reconnects = MetricKey.counter("beds.rabbitmq.reconnects", { description: "RabbitMQ connections opened after the first", incremental: true })

type Labels = ReadonlyArray<readonly [string, string]>

/**
 * Label sets a metric keeps apart at most. Templates and operations come from requests, so a
 * stranger could name new ones forever: past this many, further label sets are counted together
 * as `(other)`, and the series count stays bounded.
 */
const MAX_LABEL_SETS = 2_000

/**
 * A metric with fixed labels, made once per label set from a metric key that carries them. (Effect's
 * `Metric.tagged` would pass the labels as extra tags on every update, and each update then looked
 * its hook up by hashing the key with them: about 14 µs per request for the request metrics.)
 */
const labelled = <Type extends MetricKeyType.MetricKeyType<any, any>>(base: MetricKey.MetricKey<Type>) => {
  const made = new Map<string, Metric.Metric<Type, MetricKeyType.MetricKeyType.InType<Type>, MetricKeyType.MetricKeyType.OutType<Type>>>()
  const get = (key: string, labels: Labels): Metric.Metric<Type, MetricKeyType.MetricKeyType.InType<Type>, MetricKeyType.MetricKeyType.OutType<Type>> => {
    const found = made.get(key)
    if (found !== undefined) return found
    if (made.size >= MAX_LABEL_SETS && key !== "(other)") return get("(other)", labels.map(([k]) => [k, "(other)"] as const))
    const metric = Metric.fromMetricKey(MetricKey.taggedWithLabels(base, labels.map(([k, v]) => MetricLabel.make(k, v))))
    made.set(key, metric)
    return metric
  }
  return (labels: Labels) => get(labels.map(([, v]) => v).join("\u0000"), labels)
}

const requestsBy = labelled(requests)
const processDurationBy = labelled(MetricKey.tagged(processDuration, "unit", "s"))
const messageAgeBy = labelled(MetricKey.tagged(messageAge, "unit", "s"))
const retriesBy = labelled(retries)
const redeliveriesBy = labelled(redeliveries)
const deadLettersBy = labelled(deadLetters)
const deadlineMissesBy = labelled(deadlineMisses)
const cacheHitsBy = labelled(cacheHits)
const cacheMissesBy = labelled(cacheMisses)
const cacheInvalidationsBy = labelled(cacheInvalidations)
const eventsRejectedBy = labelled(eventsRejected)
const dbDurationBy = labelled(MetricKey.tagged(dbDuration, "unit", "s"))
const poolInstancesBy = labelled(poolInstances)
const poolConsumingBy = labelled(poolConsuming)
const poolRestartsBy = labelled(poolRestarts)
const poolInFlightBy = labelled(poolInFlight)
const poolPrefetchBy = labelled(poolPrefetch)
const connectionUpBy = labelled(connectionUp)
const reconnectsBy = labelled(reconnects)

const requestMetrics = new Map<string, { readonly count: Metric.Metric.Counter<number>; readonly duration: Metric.Metric.Histogram<number> }>()

/** What one handled request records. `code` is "" for ok. Per message: one string and one Map lookup. */
export const recordRequest = (pool: string, template: string, operation: string, code: string, seconds: number) => {
  const key = `${pool}\u0000${template}\u0000${operation}\u0000${code}`
  let metrics = requestMetrics.get(key)
  if (metrics === undefined) {
    const outcome = code === "" ? "ok" : "error"
    metrics = {
      count: requestsBy([["beds.pool", pool], ["beds.template", template], ["beds.operation", operation], ["outcome", outcome], ["error.type", code]]),
      duration: processDurationBy([["beds.pool", pool], ["beds.template", template], ["beds.operation", operation], ["outcome", outcome]])
    }
    if (requestMetrics.size < MAX_LABEL_SETS) requestMetrics.set(key, metrics)
  }
  metrics.count.unsafeUpdate(1, [])
  metrics.duration.unsafeUpdate(seconds, [])
}
export const recordMessageAge = (pool: string, seconds: number) => messageAgeBy([["beds.pool", pool]]).unsafeUpdate(seconds, [])
export const recordRetry = (template: string, operation: string) => retriesBy([["beds.template", template], ["beds.operation", operation]]).unsafeUpdate(1, [])
export const recordRedelivery = (pool: string) => redeliveriesBy([["beds.pool", pool]]).unsafeUpdate(1, [])
export const recordDeadLetter = (pool: string, code: string) => deadLettersBy([["beds.pool", pool], ["error.type", code]]).unsafeUpdate(1, [])
export const recordDeadlineMiss = (pool: string, template: string) => deadlineMissesBy([["beds.pool", pool], ["beds.template", template]]).unsafeUpdate(1, [])
export const recordCacheHit = (template: string) => cacheHitsBy([["beds.template", template]]).unsafeUpdate(1, [])
export const recordCacheMiss = (template: string) => cacheMissesBy([["beds.template", template]]).unsafeUpdate(1, [])
export const recordCacheInvalidation = (template: string) => cacheInvalidationsBy([["beds.template", template]]).unsafeUpdate(1, [])
/** `kind` is the event's kind (the routing key's first word: cache, audit, journal), `reason` one of a few fixed words. */
export const recordEventRejected = (kind: string, reason: string) => eventsRejectedBy([["beds.event", kind], ["beds.reason", reason]]).unsafeUpdate(1, [])
export const recordDbCall = (system: string, object: string, operation: string, seconds: number) =>
  dbDurationBy([["db.system.name", system], ["db.collection.name", object], ["db.operation.name", operation]]).unsafeUpdate(seconds, [])
export const recordPool = (pool: string, stats: { readonly instances: number; readonly consuming: number; readonly prefetch: number }) => {
  poolInstancesBy([["beds.pool", pool]]).unsafeUpdate(stats.instances, [])
  poolConsumingBy([["beds.pool", pool]]).unsafeUpdate(stats.consuming, [])
  poolPrefetchBy([["beds.pool", pool]]).unsafeUpdate(stats.prefetch * stats.consuming, [])
}
export const recordRestart = (pool: string) => poolRestartsBy([["beds.pool", pool]]).unsafeUpdate(1, [])
/** The in-flight gauge of a pool: +1 on delivery, -1 on settlement. */
export const inFlightOf = (pool: string) => {
  const gauge = poolInFlightBy([["beds.pool", pool]])
  return (delta: number) => gauge.unsafeModify(delta, [])
}
export const recordConnection = (name: string, up: boolean) => connectionUpBy([["beds.connection", name]]).unsafeUpdate(up ? 1 : 0, [])
export const recordReconnect = (name: string) => reconnectsBy([["beds.connection", name]]).unsafeUpdate(1, [])

// A node of several worker processes: these are the primary's (src/roles/workers.ts).
const workersConfigured = Metric.gauge("beds.workers", { description: "Worker processes the node is configured for" })
const workersServing = Metric.gauge("beds.workers.serving", { description: "Worker processes serving now" })
const workerRestarts = MetricKey.counter("beds.worker.restarts", { description: "Worker processes that died and were replaced", incremental: true })
const workerRestartsBy = labelled(workerRestarts)

export const recordWorkers = (configured: number, serving: number) => {
  workersConfigured.unsafeUpdate(configured, [])
  workersServing.unsafeUpdate(serving, [])
}
export const recordWorkerRestart = (worker: number) => workerRestartsBy([["beds.worker", String(worker)]]).unsafeUpdate(1, [])

// The HTTP gateway (src/gateway): every request it answers, by HTTP status and whether it was
// published to RabbitMQ (`published`) or refused by the gateway itself (`refused`: nothing sent).
const gatewayRequests = MetricKey.counter("beds.gateway.requests", { description: "HTTP requests the gateway answered, by status and outcome", incremental: true })
const gatewayRequestsBy = labelled(gatewayRequests)
export const recordGatewayRequest = (status: number, outcome: "published" | "refused") =>
  gatewayRequestsBy([["http.response.status_code", String(status)], ["outcome", outcome]]).unsafeUpdate(1, [])
