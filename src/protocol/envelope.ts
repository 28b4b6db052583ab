import { Schema } from "effect"
import { ErrorCode } from "./errors.js"

export const PROTOCOL_VERSION = 1

/** Names that reach a database object: letters, digits, underscore, not starting with a digit. */
export const Identifier = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, { message: () => "an identifier (A-Z a-z 0-9 _, not starting with a digit, at most 64)" })
)

/** `{node}.{env}.{uuid}`: which node made the event, in which env, and a v4-style uuid. */
export const EventId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9_-]{1,64}\.(dev|qa|prod)\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, {
    message: () => "an event id {node}.{env}.{uuid}"
  })
)

/** Where an event sits in the tree that one client request started: root events have depth 0, no parent. */
export const Lineage = Schema.Struct({
  eventId: EventId,
  parentId: Schema.Union(Schema.Literal(""), EventId),
  depth: Schema.Int.pipe(Schema.between(0, 64))
}).pipe(
  Schema.filter((l) => (l.depth === 0) === (l.parentId === "") || "parentId \"\" exactly when depth is 0"),
  Schema.annotations({ identifier: "lineage {eventId, parentId, depth}" })
)
export type Lineage = typeof Lineage.Type

export const Caller = Schema.Struct({
  id: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128)),
  roles: Schema.Array(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64))).pipe(Schema.maxItems(32))
}).annotations({ identifier: "caller {id, roles}" })
export type Caller = typeof Caller.Type

/** A queue a node may publish to: 1 to 255 printable ASCII characters (AMQP's short string). */
export const QueueName = Schema.String.pipe(
  Schema.pattern(/^[\x21-\x7e]{1,255}$/, { message: () => "a queue name: 1 to 255 printable ASCII characters" })
)

const JsonObject = Schema.Record({ key: Schema.String, value: Schema.Unknown }).annotations({ identifier: "a JSON object" })

/** A request, the body of every message on beds.events (JSON). */
export const Request = Schema.Struct({
  version: Schema.Literal(PROTOCOL_VERSION),
  template: Identifier,
  /** create | fetch | update | delete, or a named operation the template declares. */
  op: Identifier,
  /** The record for create and update, the arguments of a named operation. */
  data: Schema.optional(JsonObject),
  /** The selection for fetch and delete. */
  query: Schema.optional(JsonObject),
  lineage: Lineage,
  /** A repeated request with the same key gets the first outcome (mutations). */
  idempotencyKey: Schema.optional(Schema.String.pipe(Schema.pattern(/^[\x21-\x7e]{1,128}$/, { message: () => "1 to 128 printable ASCII characters" }))),
  /** Unix time in milliseconds after which the caller no longer wants the answer. */
  deadline: Schema.optional(Schema.Int.pipe(Schema.positive())),
  caller: Schema.optional(Caller),
  /** Answer at once with a ticket and run the request as a job (send it on route `job`). */
  ticket: Schema.optional(Schema.Boolean),
  /** A queue that gets one message when the ticket ends (within the producer's reply_prefix). */
  notify: Schema.optional(QueueName)
}).annotations({ identifier: "a v1 request envelope (JSON object)" })
export type Request = typeof Request.Type

export const ReplyError = Schema.Struct({
  code: ErrorCode,
  tag: Schema.String,
  message: Schema.String,
  retryable: Schema.Boolean
})
export type ReplyError = typeof ReplyError.Type

/** The body of every reply (JSON), sent to the request's replyTo with its correlationId. */
export const Reply = Schema.Union(
  Schema.Struct({ version: Schema.Literal(PROTOCOL_VERSION), status: Schema.Literal("ok"), data: Schema.Unknown, lineage: Lineage }),
  Schema.Struct({
    version: Schema.Literal(PROTOCOL_VERSION),
    status: Schema.Literal("error"),
    error: ReplyError,
    /** Absent when the request was too broken to read its lineage. */
    lineage: Schema.optional(Lineage)
  })
)
export type Reply = typeof Reply.Type
