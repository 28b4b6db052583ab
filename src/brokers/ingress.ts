import { Either, Option, ParseResult, Schema } from "effect"
import type { ConsumeMessage } from "amqplib"
import { describeProblem, firstProblem } from "../kernel/parse-issue.js"
import { Caller, Lineage, Request } from "../protocol/envelope.js"
import { isDirectReplyTo, TRACEPARENT } from "../protocol/routing.js"

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
  /** bad_envelope, or too_large: refused on its size alone, before it was read. */
  readonly code: "bad_envelope" | "too_large"
  readonly reason: string
  /** Where the refusal is answered: unset when the request has no replyTo or no correlationId. */
  readonly replyTo: string | undefined
  readonly correlationId: string | undefined
  readonly traceparent: string | undefined
  /** The request's lineage when the body was JSON with a valid one, so the refusal can carry it. */
  readonly lineage: Lineage | undefined
}

const decodeRequest = Schema.decodeUnknownEither(Request)
const decodeLineage = Schema.decodeUnknownOption(Lineage)

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
// One decoder for every message (it holds no state between fatal-mode decodes). A byte-order mark
// is kept (ignoreBOM) and refused below, so that a body means the same to every JSON parser.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/**
 * Why a contentType is refused, or undefined when it is JSON: absent, or `application/json` in any
 * case, with parameters allowed (a charset must be utf-8: the body is always read as UTF-8).
 */
const contentTypeProblem = (contentType: string | undefined): string | undefined => {
  if (contentType === undefined) return undefined
  const [mediaType, ...parameters] = contentType.split(";").map((part) => part.trim())
  if (mediaType!.toLowerCase() !== "application/json") return `contentType ${JSON.stringify(contentType)} is not application/json`
  const charset = parameters.find((p) => p.toLowerCase().startsWith("charset="))?.slice("charset=".length).replace(/^"(.*)"$/, "$1")
  if (charset !== undefined && !["utf-8", "utf8"].includes(charset.toLowerCase())) {
    return `contentType ${JSON.stringify(contentType)}: the body is read as UTF-8, not ${charset}`
  }
  return undefined
}

const startsWithByteOrderMark = (content: Buffer) => content.length >= 3 && content[0] === 0xef && content[1] === 0xbb && content[2] === 0xbf

/** The lineage of a body that did not decode as a request, when it has a valid one. */
const lineageOf = (body: unknown): Lineage | undefined =>
  typeof body === "object" && body !== null && !Array.isArray(body) && "lineage" in body
    ? Option.getOrUndefined(decodeLineage((body as { lineage: unknown }).lineage))
    : undefined

/** The one place a message body is trusted: decoded with Schema, checked against its routing key. */
export const decodeDelivery = (
  message: Pick<ConsumeMessage, "content" | "properties" | "fields">,
  /** A body larger than this is refused before anything is read from it (limits.max_message_bytes). */
  maxBytes = Number.POSITIVE_INFINITY
): Accepted | Refused => {
  const { properties } = message
  const replyTo = nonEmptyString(properties.replyTo)
  const correlationId = nonEmptyString(properties.correlationId)
  const traceHeader = properties.headers?.["traceparent"]
  const traceparent = typeof traceHeader === "string" && TRACEPARENT.test(traceHeader) ? traceHeader : undefined
  // A reply without a correlationId could not be matched by any client: such a request is only
  // dead-lettered. A refusal is answered only on direct reply-to: a refused request was never
  // vouched for, so a queue it names could be anybody's (the node would publish into it for a stranger).
  const answerTo = correlationId === undefined || replyTo === undefined || !isDirectReplyTo(replyTo) ? undefined : replyTo
  const refuse = (reason: string, lineage?: Lineage, code: Refused["code"] = "bad_envelope"): Refused =>
    ({ _tag: "Refused", code, reason: wellFormed(reason), replyTo: answerTo, correlationId, traceparent, lineage })

  if (message.content.length > maxBytes) {
    return refuse(`the body is ${message.content.length} bytes, more than this node takes (${maxBytes}); it was not read`, undefined, "too_large")
  }
  if (replyTo === undefined) return refuse("no replyTo property: a request needs somewhere to send its reply")
  if (correlationId === undefined) return refuse("no correlationId property: a reply could not be matched to its request")
  const contentType = contentTypeProblem(nonEmptyString(properties.contentType))
  if (contentType !== undefined) return refuse(contentType)
  if (startsWithByteOrderMark(message.content)) return refuse("body starts with a byte-order mark: send UTF-8 JSON without one")
  let body: unknown
  try {
    body = JSON.parse(utf8.decode(message.content))
  } catch (error) {
    return refuse(`body is not UTF-8 JSON: ${error instanceof Error ? error.message : String(error)}`)
  }
  const unknownTopLevel = unknownTopLevelKey(body)
  if (unknownTopLevel !== undefined) return refuse(`body: ${unknownTopLevel}`, lineageOf(body))
  const decoded = decodeRequest(body)
  if (Either.isLeft(decoded)) {
    return refuse(`body: ${describeProblem(firstProblem((decoded.left as ParseResult.ParseError).issue))}`, lineageOf(body))
  }
  const request = decoded.right
  const unknownNested = unknownNestedKey(body as Record<string, unknown>)
  if (unknownNested !== undefined) return refuse(`body: ${unknownNested}`, lineageOf(body))
  const [, template, op, ...rest] = message.fields.routingKey.split(".")
  if (template !== request.template || op !== request.op || rest.length > 0) {
    return refuse(
      `routing key ${JSON.stringify(message.fields.routingKey)} does not match template ${request.template} op ${request.op}`,
      request.lineage
    )
  }
  return { _tag: "Accepted", request, replyTo, correlationId, traceparent, persistent: properties.deliveryMode === 2 }
}

// A reason travels in the reply (JSON, which keeps a lone surrogate) and in the dead letter's
// x-beds-reason header (UTF-8, which cannot): JSON.parse names a bad token by one UTF-16 unit, half
// of an astral character. Lone surrogates become U+FFFD, so both say the same.
const wellFormed = (text: string) => text.replace(/\p{Cs}/gu, "\uFFFD")

const nonEmptyString = (value: unknown): string | undefined =>
  typeof value === "string" && value.length > 0 ? value : undefined
