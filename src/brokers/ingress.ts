import { Either, ParseResult, Schema } from "effect"
import type { ConsumeMessage } from "amqplib"
import { describeProblem, firstProblem } from "../core/parse-issue.js"
import { Caller, Lineage, Request } from "../protocol/envelope.js"
import { TRACEPARENT } from "../protocol/routing.js"

/** A delivery that decoded into a request, with what the reply needs. */
export interface Accepted {
  readonly _tag: "Accepted"
  readonly request: Request
  readonly replyTo: string
  readonly correlationId: string
  readonly traceparent: string | undefined
  /** Published persistent: the reliable path (reply confirmed before the request is acked). */
  readonly persistent: boolean
}

/** A delivery that is not a v1 request. The reason is deterministic: same input, same reason. */
export interface Refused {
  readonly _tag: "Refused"
  readonly reason: string
  readonly replyTo: string | undefined
  readonly correlationId: string | undefined
  readonly traceparent: string | undefined
}

const decodeRequest = Schema.decodeUnknownEither(Request)

// Unknown keys are refused, naming the key, as `onExcessProperty: "error"` would: that option
// runs a union parser per key of every object and doubled the cost of decoding an envelope
// (5.2 -> 2.6 µs, BENCHMARKS.md). The key sets are the schemas' own.
const REQUEST_KEYS = new Set(Object.keys(Request.fields))
const NESTED_KEYS = [["lineage", new Set(Object.keys(Lineage.from.fields))], ["caller", new Set(Object.keys(Caller.fields))]] as const
/** `field.key: unknown key (found ...)` for the first key of `value` not in `known`. */
const unknownKeyIn = (value: unknown, known: ReadonlySet<string>, path: ReadonlyArray<string>): string | undefined => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
  const key = Object.keys(value).find((key) => !known.has(key))
  return key === undefined ? undefined : describeProblem({ kind: "unknown", path: [...path, key], found: (value as Record<string, unknown>)[key] })
}
/** Checked before anything else, as the Struct checks its own keys first. */
const unknownTopLevelKey = (body: unknown) => unknownKeyIn(body, REQUEST_KEYS, [])
/** Checked once the body decoded, so lineage and caller are objects. */
const unknownNestedKey = (body: Record<string, unknown>): string | undefined => {
  for (const [field, known] of NESTED_KEYS) {
    const problem = unknownKeyIn(body[field], known, [field])
    if (problem !== undefined) return problem
  }
  return undefined
}
// One decoder for every message (it holds no state between fatal-mode decodes).
const utf8 = new TextDecoder("utf-8", { fatal: true })

/** The one place a message body is trusted: decoded with Schema, checked against its routing key. */
export const decodeDelivery = (message: Pick<ConsumeMessage, "content" | "properties" | "fields">): Accepted | Refused => {
  const { properties } = message
  const replyTo = nonEmptyString(properties.replyTo)
  const correlationId = nonEmptyString(properties.correlationId)
  const traceHeader = properties.headers?.["traceparent"]
  const traceparent = typeof traceHeader === "string" && TRACEPARENT.test(traceHeader) ? traceHeader : undefined
  const refuse = (reason: string): Refused => ({ _tag: "Refused", reason, replyTo, correlationId, traceparent })

  if (replyTo === undefined) return refuse("no replyTo property: a request needs somewhere to send its reply")
  if (correlationId === undefined) return refuse("no correlationId property: a reply could not be matched to its request")
  const contentType = nonEmptyString(properties.contentType)
  if (contentType !== undefined && contentType.split(";")[0]!.trim() !== "application/json") {
    return refuse(`contentType ${JSON.stringify(contentType)} is not application/json`)
  }
  let body: unknown
  try {
    body = JSON.parse(utf8.decode(message.content))
  } catch (error) {
    return refuse(`body is not UTF-8 JSON: ${error instanceof Error ? error.message : String(error)}`)
  }
  const unknownTopLevel = unknownTopLevelKey(body)
  if (unknownTopLevel !== undefined) return refuse(`body: ${unknownTopLevel}`)
  const decoded = decodeRequest(body)
  if (Either.isLeft(decoded)) return refuse(`body: ${describeProblem(firstProblem((decoded.left as ParseResult.ParseError).issue))}`)
  const unknownNested = unknownNestedKey(body as Record<string, unknown>)
  if (unknownNested !== undefined) return refuse(`body: ${unknownNested}`)
  const request = decoded.right
  const [, template, op, ...rest] = message.fields.routingKey.split(".")
  if (template !== request.template || op !== request.op || rest.length > 0) {
    return refuse(`routing key ${JSON.stringify(message.fields.routingKey)} does not match template ${request.template} op ${request.op}`)
  }
  return { _tag: "Accepted", request, replyTo, correlationId, traceparent, persistent: properties.deliveryMode === 2 }
}

const nonEmptyString = (value: unknown): string | undefined =>
  typeof value === "string" && value.length > 0 ? value : undefined
