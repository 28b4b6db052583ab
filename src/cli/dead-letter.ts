import type { GetMessage, MessageProperties, Options } from "amqplib"
import { Either, Option, Schema } from "effect"
import { createHash } from "node:crypto"

/**
 * One message of a dead-letter queue as an operator sees it, decoded from what RabbitMQ handed
 * over. A dead letter is whatever a node could not serve, so every part is optional: what does not
 * decode is shown as missing rather than failing the listing.
 */
export interface DeadLetter {
  /** Its place in the queue as read now, from 1. */
  readonly position: number
  /** The messageId (BedsClient sets the eventId), else the body's eventId, else a digest of the body. */
  readonly id: string
  /** `x-beds-code`, or `rejected` for one RabbitMQ dead-lettered itself (`x-death`). */
  readonly code: string
  readonly reason: string
  readonly template: string | undefined
  readonly op: string | undefined
  readonly eventId: string | undefined
  /** When it was dead-lettered (ms since the epoch), when known. */
  readonly deadLetteredAt: number | undefined
  readonly routingKey: string
  readonly message: GetMessage
}

/** RabbitMQ writes timestamps in header tables as `{ "!": "timestamp", value: seconds }` (amqplib). */
const SecondsStamp = Schema.Union(
  Schema.Number,
  Schema.Struct({ value: Schema.Number }).pipe(Schema.transform(Schema.Number, {
    strict: true,
    decode: (stamp) => stamp.value,
    encode: (value) => ({ value })
  }))
)

const DeadLetterHeaders = Schema.Struct({
  "x-beds-code": Schema.optional(Schema.String),
  "x-beds-reason": Schema.optional(Schema.String),
  "x-beds-time": Schema.optional(Schema.Number),
  "x-death": Schema.optional(Schema.Array(Schema.Struct({
    reason: Schema.optional(Schema.String),
    queue: Schema.optional(Schema.String),
    time: Schema.optional(SecondsStamp)
  })))
})

const Properties = Schema.Struct({
  messageId: Schema.optional(Schema.String),
  timestamp: Schema.optional(Schema.Number),
  headers: Schema.optional(Schema.Unknown)
})

/** The parts of a request body a listing shows; the rest is left to `show`. */
const BodyParts = Schema.parseJson(Schema.Struct({
  template: Schema.optional(Schema.String),
  op: Schema.optional(Schema.String),
  lineage: Schema.optional(Schema.Struct({ eventId: Schema.optional(Schema.String) }))
}))

const decodeOr = <A, I>(schema: Schema.Schema<A, I>, input: unknown, fallback: A): A =>
  Either.getOrElse(Schema.decodeUnknownEither(schema)(input), () => fallback)

/** Decodes one message read from a dead-letter queue (the edge: nothing in it is trusted). */
export const decodeDeadLetter = (message: GetMessage, position: number): DeadLetter => {
  const properties = decodeOr(Properties, message.properties, {})
  const headers = decodeOr(DeadLetterHeaders, properties.headers ?? {}, {})
  const body = decodeOr(BodyParts, message.content.toString("utf8"), {})
  const death = headers["x-death"]?.[0]
  const eventId = body.lineage?.eventId
  return {
    position,
    id: properties.messageId ?? eventId ?? `sha256:${createHash("sha256").update(message.content).digest("hex").slice(0, 16)}`,
    code: headers["x-beds-code"] ?? (death === undefined ? "unknown" : "rejected"),
    reason: headers["x-beds-reason"] ?? (death === undefined ? "no reason recorded" : `rejected by RabbitMQ (${death.reason ?? "?"}): settling it failed on the node`),
    template: body.template,
    op: body.op,
    eventId,
    deadLetteredAt: headers["x-beds-time"] ?? (death?.time === undefined ? undefined : death.time * 1000) ??
      (properties.timestamp === undefined ? undefined : properties.timestamp * 1000),
    routingKey: message.fields.routingKey,
    message
  }
}

/** How an operator names a dead letter: its position (`3` or `#3`) or its id. */
export type LetterRef = { readonly _tag: "Position"; readonly position: number } | { readonly _tag: "Id"; readonly id: string }

export const LetterRefFromString = Schema.transform(
  Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256)),
  Schema.Union(
    Schema.TaggedStruct("Position", { position: Schema.Int.pipe(Schema.positive()) }),
    Schema.TaggedStruct("Id", { id: Schema.String })
  ),
  {
    strict: true,
    decode: (text) => /^#?[0-9]{1,9}$/.test(text) ? { _tag: "Position" as const, position: Number(text.replace("#", "")) } : { _tag: "Id" as const, id: text },
    encode: (ref) => ref._tag === "Position" ? `#${ref.position}` : ref.id
  }
)

export const matchesRef = (letter: DeadLetter, ref: LetterRef): boolean =>
  ref._tag === "Position" ? letter.position === ref.position : letter.id === ref.id || letter.eventId === ref.id

export interface LetterFilter {
  readonly code: Option.Option<string>
  readonly template: Option.Option<string>
  readonly op: Option.Option<string>
}

export const matchesFilter = (letter: DeadLetter, filter: LetterFilter): boolean =>
  Option.match(filter.code, { onNone: () => true, onSome: (code) => letter.code === code }) &&
  Option.match(filter.template, { onNone: () => true, onSome: (template) => letter.template === template }) &&
  Option.match(filter.op, { onNone: () => true, onSome: (op) => letter.op === op })

/** The headers a dead letter gained on its way to the queue; a replay leaves them off. */
const deadLetterHeaders: ReadonlySet<string> = new Set([
  "x-beds-code", "x-beds-reason", "x-beds-broker", "x-beds-time",
  "x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
  "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason"
])

/**
 * The properties a replay is published with: the original request's, without the dead-letter
 * headers, and without `userId`, which RabbitMQ accepts only when it names the publishing user
 * (here the operator, not the original producer).
 */
export const replayProperties = (properties: MessageProperties): Options.Publish => {
  const { headers, userId: _userId, clusterId: _clusterId, ...rest } = properties
  const kept = Object.fromEntries(Object.entries(headers ?? {}).filter(([key]) => !deadLetterHeaders.has(key)))
  const defined = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined && value !== null))
  return { ...defined, headers: kept, mandatory: true }
}
