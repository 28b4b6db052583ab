import { Schema } from "effect"

/**
 * A route is the first word of a routing key. Each route is bound to exactly one broker queue, so
 * `{route}.{template}.{op}` reaches one queue and no message is processed twice.
 */
export const Route = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9_]{0,31}$/, { message: () => "a route: a lower-case word (a-z 0-9 _, at most 32)" })
)

export const routingKey = (route: string, template: string, op: string): string => `${route}.${template}.${op}`

/** The topic binding that sends every key of a route to one queue. */
export const routeBinding = (route: string): string => `${route}.#`

/** Where the four standard operations go when the caller names no route: reads and writes. */
export const defaultRoute = (op: string): string | undefined =>
  op === "fetch" ? "read" : op === "create" || op === "update" || op === "delete" ? "write" : undefined

/** The route of tickets: a request sent on it is answered at once with a ticket and runs as a job (mBroker). */
export const JOB_ROUTE = "job"
/** The template a ticket is polled through: `read.tickets.fetch` with `{"query": {"ticket_id": ...}}`. */
export const TICKETS_TEMPLATE = "tickets"

/** Requests: topic exchange, durable; routing keys map each template operation to one broker queue. */
export const EVENTS_EXCHANGE = "beds.events"
/** Log, audit, journal and cache events between nodes: topic exchange, durable. */
export const LOGS_EXCHANGE = "beds.logs"

/** On beds.logs: tells every node to drop a template's cached reads. */
export const invalidationKey = (template: string) => `cache.invalidate.${template}`
/** The template named by an invalidation key; undefined for any other key. */
export const invalidatedTemplate = (key: string): string | undefined =>
  key.startsWith("cache.invalidate.") ? key.slice("cache.invalidate.".length) : undefined
/** On beds.logs: the audit (who, when, what) and journal (before, after) events of a write. */
export const auditKey = (template: string, op: string) => `audit.${template}.${op}`
export const journalKey = (template: string, op: string) => `journal.${template}.${op}`

/** A request header a publisher may set to its publish time (Unix ms): the node's message-age metric. */
export const SENT_AT_HEADER = "x-beds-sent-at"

/** W3C trace context header; an invalid value is ignored, as the spec asks. */
export { TRACEPARENT } from "../kernel/traceparent.js"

/** RabbitMQ's direct reply-to pseudo-queue: replies to a consumer on the requester's own channel. */
export const DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"

/** RabbitMQ rewrites direct reply-to on delivery (`amq.rabbitmq.reply-to.<token>`): the name as the publisher wrote it. */
export const canonicalReplyTo = (replyTo: string) => (replyTo.startsWith(DIRECT_REPLY_TO) ? DIRECT_REPLY_TO : replyTo)

export const isDirectReplyTo = (replyTo: string) => replyTo.startsWith(DIRECT_REPLY_TO)

/** A reply header, informative only: the worker process (1..N) of a multi-process node that served the request. */
export const WORKER_HEADER = "x-beds-worker"
