import { Schema } from "effect"
import { Route } from "../protocol/routing.js"
import { defaultSchemaDirectory, defaultTemplatesDirectory } from "./directories.js"
import { defaultGateway, GatewaySection } from "./gateway.js"
import { BooleanSetting, intBetween, Secret } from "./settings.js"

/** The config format this build reads. An older file is refused (config/load.ts `checkVersion`). */
export const CURRENT_CONFIG_VERSION = 1

export const Environment = Schema.Literal("dev", "qa", "prod")
export type Environment = typeof Environment.Type

export const Role = Schema.Literal("appServer", "admin", "segundo", "tercero")
export type Role = typeof Role.Type

const Port = intBetween(1, 65_535)
const Host = Schema.NonEmptyTrimmedString.annotations({ identifier: "host name or address" })
const NonEmpty = Schema.NonEmptyTrimmedString.annotations({ identifier: "non-empty string" })

/** Keys whose values are secrets: error messages never echo what was found there. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(["password", "secret_access_key", "uri", "secret", "secret_sha256"])

const NodeSection = Schema.Struct({
  /** Names this node in event ids (`{node}.{env}.{uuid}`) and on every log line. */
  id: Schema.String.pipe(
    Schema.pattern(/^[A-Za-z0-9_-]{1,64}$/, { message: () => "1 to 64 of A-Z a-z 0-9 _ -" })
  ),
  role: Role,
  /**
   * Processes serving the node's brokers: 1 is one process (no fork); more, or "auto" (the cores
   * available to the process), is a primary that boots and supervises that many worker processes.
   */
  workers: Schema.optionalWith(
    Schema.Union(Schema.Literal("auto"), intBetween(1, 1_024)).annotations({ identifier: `"auto" or an integer from 1 to 1024` }),
    { default: () => 1 }
  )
})

const LoggingSection = Schema.Struct({
  level: Schema.Literal("trace", "debug", "info", "warning", "error", "fatal", "none"),
  /** auto: JSON lines in prod, readable lines in dev and qa. */
  format: Schema.Literal("auto", "json", "pretty")
})

const IplSection = Schema.Struct({
  /** Upper bound on each IPL step, so an unreachable host fails the step instead of hanging. */
  step_timeout_ms: intBetween(100, 120_000)
})

const RabbitMqSection = Schema.Struct({
  host: Host,
  port: Port,
  vhost: NonEmpty,
  username: NonEmpty,
  password: Secret,
  heartbeat_s: intBetween(0, 3_600),
  /** quorum: replicated queues for a cluster. A queue keeps the type it was declared with. */
  queue_type: Schema.Literal("classic", "quorum"),
  /** After a lost connection: wait base, then doubling, at most max, between attempts. */
  reconnect_base_delay_ms: intBetween(10, 60_000),
  reconnect_max_delay_ms: intBetween(10, 300_000)
})

const MariaDbEndpoint = Schema.Struct({
  host: Host,
  port: Port,
  database: Schema.String.pipe(Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, {
    message: () => "an identifier: a letter or _ then up to 63 of A-Z a-z 0-9 _"
  })),
  username: NonEmpty,
  password: Schema.optionalWith(Secret, { default: () => Schema.decodeSync(Secret)("") })
})
export type MariaDbEndpoint = typeof MariaDbEndpoint.Type

const MariaDbSection = Schema.Struct({
  /** Writes (and reads when no secondary is configured). */
  master: MariaDbEndpoint,
  /** Optional read replica. */
  secondary: Schema.optional(MariaDbEndpoint)
})

const MongoDbSection = Schema.Struct({
  /** A MongoDB connection string; a secret because it may carry credentials. */
  uri: Secret,
  database: NonEmpty
})

const DynamoDbSection = Schema.Struct({
  region: NonEmpty,
  /** Set for a local DynamoDB (dynalite, DynamoDB Local); unset means AWS's own endpoint. */
  endpoint: Schema.optional(Schema.String.pipe(Schema.pattern(/^https?:\/\/[^\s]+$/, {
    message: () => "an http:// or https:// URL"
  }))),
  /** Unset means the AWS SDK's default credential chain (instance role, env, profile). */
  access_key_id: Schema.optional(NonEmpty),
  secret_access_key: Schema.optional(Secret)
})

const SharedFsSection = Schema.Struct({
  /** A directory every node can write: exports, imports, warehouse files. */
  path: NonEmpty
})

const BrokerSettings = Schema.Struct({
  /** How many consume loops of this type the node runs (the pool never shrinks below it). */
  instances: intBetween(1, 1_024),
  /** Unacknowledged messages each loop may hold, and so handle at once. */
  prefetch: intBetween(1, 65_535),
  /**
   * Request routes (first words of routing keys on beds.events) this type's queue is bound to.
   * Empty for brokers that do not serve requests.
   */
  routes: Schema.optionalWith(Schema.Array(Route), { default: () => [] })
})
export type BrokerSettings = typeof BrokerSettings.Type

export const BrokerType = Schema.Literal(
  "rBroker", "wBroker", "mBroker",
  "adminBrokerIn", "adminBrokerOut", "adminLogsBroker", "adminSyslogBroker", "adminGraphBroker",
  "whBroker", "cBroker",
  "uBroker", "sBroker"
)
export type BrokerType = typeof BrokerType.Type

const BrokersSection = Schema.Struct(
  Object.fromEntries(BrokerType.literals.map((type) => [type, BrokerSettings])) as {
    readonly [K in BrokerType]: typeof BrokerSettings
  }
).pipe(Schema.filter((brokers) => {
  // Every route reaches exactly one queue, on every node: a route bound twice would deliver twice.
  const owner = new Map<string, string>()
  for (const [type, settings] of Object.entries(brokers)) {
    for (const route of settings.routes) {
      const first = owner.get(route)
      if (first !== undefined) return `route "${route}" is bound to both ${first} and ${type}; a route belongs to one broker type`
      owner.set(route, type)
    }
  }
  return true
}))

const RetrySection = Schema.Struct({
  /** Transient failures (lost connection, timeout, deadlock) are retried this many times. */
  transient_retries: intBetween(0, 20),
  base_delay_ms: intBetween(1, 60_000),
  max_delay_ms: intBetween(1, 300_000)
})

const SupervisorSection = Schema.Struct({
  /** A broker fiber that ends is replaced after base, doubling, at most max. */
  restart_base_delay_ms: intBetween(1, 60_000),
  restart_max_delay_ms: intBetween(1, 600_000)
})

const TemplatesSection = Schema.Struct({
  /** Directory of template files; unset means templates/ beside the build. */
  directory: Schema.optionalWith(NonEmpty, { default: () => defaultTemplatesDirectory }),
  /** Directory of the DBA's schema files (mongodb pipelines are read from it); unset: schema/ beside the build. */
  schema_directory: Schema.optionalWith(NonEmpty, { default: () => defaultSchemaDirectory })
})

const MetricsSection = Schema.Struct({
  /** Log a metrics line (memory, broker pools) every this many seconds; 0 = never. */
  interval_s: intBetween(0, 86_400)
})

/** A ratio from 0 to 1, from TOML (a number) or a BEDS_* variable (a string holding one). */
const Ratio = Schema.Union(Schema.Number, Schema.NumberFromString).annotations({ identifier: "number" }).pipe(
  Schema.filter((n) => (n >= 0 && n <= 1) || "a number from 0 to 1")
)

const TracingSection = Schema.Struct({
  /** Off: no span is made on the message path at all. */
  enabled: BooleanSetting,
  /** Where spans go: an OTLP/HTTP traces endpoint (a collector, Jaeger, Tempo). */
  endpoint: Schema.String.pipe(Schema.pattern(/^https?:\/\/[^\s]+$/, { message: () => "an http:// or https:// URL" })),
  /** Requests sampled when the caller did not decide (parent-based: a sampled parent is always followed). */
  sample_ratio: Ratio
})

const ObservabilitySection = Schema.Struct({
  /** The node's small HTTP server: /health/live, /health/ready, /metrics. 0 = off. */
  http_port: intBetween(0, 65_535),
  http_host: Host
})

const IdempotencySection = Schema.Struct({
  /** How long a mutation's outcome is kept for its repeats (redeliveries, resends with its key). */
  retention_h: intBetween(1, 24 * 366),
  /** Every this many seconds, each node removes records past their retention (0 = never). */
  sweep_interval_s: intBetween(0, 86_400)
})

const TicketsSection = Schema.Struct({
  /** A ticket and its result are kept this long after it ended (or, never started, after it was made); then `expired`. */
  keep_s: Schema.optionalWith(intBetween(1, 366 * 86_400), { default: () => 86_400 }),
  /** A running job's lease: renewed every third of it; a job whose lease ran out (its node died) is taken over. */
  lease_s: Schema.optionalWith(intBetween(1, 3_600), { default: () => 30 }),
  /** A job started this many times without ending (its node died each time) ends failed. */
  max_attempts: Schema.optionalWith(intBetween(1, 100), { default: () => 3 }),
  /** Every this many seconds a node with the job route looks for jobs to take over (0 = never). */
  claim_interval_s: Schema.optionalWith(intBetween(0, 3_600), { default: () => 5 }),
  /** Jobs a node runs at once. */
  concurrency: Schema.optionalWith(intBetween(1, 1_024), { default: () => 4 }),
  /** Every this many seconds a node removes tickets expired for as long again as they were kept (0 = never). */
  sweep_interval_s: Schema.optionalWith(intBetween(0, 86_400), { default: () => 300 })
})
export type TicketsSettings = typeof TicketsSection.Type

const KeyId = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_.-]{1,64}$/, { message: () => "a key id: 1 to 64 of A-Z a-z 0-9 _ . -" }))

/** A producer's key: the requests signed with it are that producer's, and the callers in them are vouched for. */
const ProducerKey = Schema.Struct({
  /** The application (producer) that holds it; a request's producer is in the node's logs and traces. */
  producer: NonEmpty,
  secret: Secret,
  /** The roles a caller it vouches for may have; unset: any. A role beyond these is refused. */
  roles: Schema.optional(Schema.Array(Schema.String.pipe(Schema.minLength(1)))),
  /** Queues its requests may name as replyTo, besides direct reply-to: names starting with this. */
  reply_prefix: Schema.optional(Schema.String.pipe(Schema.minLength(1)))
})

const TrustSection = Schema.Struct({
  /**
   * The environments whose nodes accept requests that carry no signature, as callers with no
   * identity (they may run only operations open to "*"). dev and qa only: prod can never be one.
   * A node that accepts them says so loudly at startup. The shipped beds.toml names dev.
   */
  anonymous_in: Schema.optionalWith(
    Schema.Array(Schema.Literal("dev", "qa").annotations({ identifier: `"dev" or "qa" (never "prod")` })),
    { default: () => [] }
  ),
  /** A signature older or newer than this is refused (a replay, or a producer whose clock is off). */
  max_clock_skew_s: Schema.optionalWith(intBetween(1, 86_400), { default: () => 300 }),
  /** Producers' keys, by key id (several per producer, for rotation). */
  keys: Schema.optionalWith(Schema.Record({ key: KeyId, value: ProducerKey }), { default: () => ({}) }),
  /** The nodes' own keys for events on beds.logs, by key id: a node accepts an event signed by any of them. */
  node_keys: Schema.optionalWith(Schema.Record({ key: KeyId, value: Secret }), { default: () => ({}) }),
  /** The node key this node signs its events with (one of node_keys). */
  node_key: Schema.optional(KeyId)
}).pipe(Schema.filter((trust) =>
  trust.node_key === undefined || trust.node_key in trust.node_keys || `node_key "${trust.node_key}" is not one of node_keys`
))

const LimitsSection = Schema.Struct({
  /** A request larger than this is refused before it is decoded (too_large). */
  max_message_bytes: Schema.optionalWith(intBetween(256, 128 * 1024 * 1024), { default: () => 1024 * 1024 }),
  /** Requests per second each caller (its producer key and caller id) may send on each route; 0 = no limit. */
  requests_per_s: Schema.optionalWith(intBetween(0, 1_000_000), { default: () => 0 }),
  /** Requests a caller may send at once above that rate. */
  burst: Schema.optionalWith(intBetween(1, 1_000_000), { default: () => 100 })
})

const DeadLettersSection = Schema.Struct({
  /** A dead-letter queue holding more than this many messages is logged as a warning; nothing is ever dropped. */
  warn_length: Schema.optionalWith(intBetween(1, 1_000_000_000), { default: () => 1_000 }),
  /** Every this many seconds each node checks the lengths of its pools' dead-letter queues (0 = never). */
  check_interval_s: Schema.optionalWith(intBetween(0, 86_400), { default: () => 60 })
})

const ShutdownSection = Schema.Struct({
  /** On SIGTERM, how long in-flight messages may take to finish before the channels close. */
  drain_timeout_ms: intBetween(0, 600_000)
})

/** The merged config tree, decoded once at startup. */
export const BedsConfigSchema = Schema.Struct({
  config_version: Schema.Literal(CURRENT_CONFIG_VERSION),
  node: NodeSection,
  logging: LoggingSection,
  ipl: IplSection,
  rabbitmq: RabbitMqSection,
  mariadb: MariaDbSection,
  mongodb: MongoDbSection,
  dynamodb: DynamoDbSection,
  shared_fs: SharedFsSection,
  brokers: BrokersSection,
  retry: RetrySection,
  supervisor: SupervisorSection,
  shutdown: ShutdownSection,
  idempotency: Schema.optionalWith(IdempotencySection, { default: () => ({ retention_h: 24, sweep_interval_s: 300 }) }),
  templates: Schema.optionalWith(TemplatesSection, {
    default: () => ({ directory: defaultTemplatesDirectory, schema_directory: defaultSchemaDirectory })
  }),
  metrics: Schema.optionalWith(MetricsSection, { default: () => ({ interval_s: 0 }) }),
  tracing: Schema.optionalWith(TracingSection, {
    default: () => ({ enabled: false, endpoint: "http://127.0.0.1:4318/v1/traces", sample_ratio: 0.01 })
  }),
  observability: Schema.optionalWith(ObservabilitySection, { default: () => ({ http_port: 0, http_host: "127.0.0.1" }) }),
  dead_letters: Schema.optionalWith(DeadLettersSection, { default: () => ({ warn_length: 1_000, check_interval_s: 60 }) }),
  tickets: Schema.optionalWith(TicketsSection, {
    default: () => ({ keep_s: 86_400, lease_s: 30, max_attempts: 3, claim_interval_s: 5, concurrency: 4, sweep_interval_s: 300 })
  }),
  trust: Schema.optionalWith(TrustSection, { default: () => ({ anonymous_in: [], max_clock_skew_s: 300, keys: {}, node_keys: {} }) }),
  limits: Schema.optionalWith(LimitsSection, { default: () => ({ max_message_bytes: 1024 * 1024, requests_per_s: 0, burst: 100 }) }),
  gateway: Schema.optionalWith(GatewaySection, { default: () => defaultGateway })
})

/** What the rest of the node reads: the decoded file tree plus the environment it was loaded for. */
export interface BedsConfig extends Omit<Schema.Schema.Type<typeof BedsConfigSchema>, "trust"> {
  readonly env: Environment
  /** As decoded, plus whether this node (its env one of anonymous_in) accepts unsigned requests. */
  readonly trust: Schema.Schema.Type<typeof BedsConfigSchema>["trust"] & { readonly anonymous: boolean }
  /** The files and variables that were layered, in order, for the startup banner. */
  readonly sources: ReadonlyArray<string>
}
