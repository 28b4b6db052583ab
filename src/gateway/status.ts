import { Schema } from "effect"
import { errorCatalog, ErrorCode } from "../protocol/errors.js"
import { PROTOCOL_VERSION, type Reply } from "../protocol/envelope.js"

/** The HTTP status of each error code of the catalog (docs/gateway.md, Status codes). */
export const httpStatus: Readonly<Record<ErrorCode, number>> = {
  bad_envelope: 400,
  validation: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  in_progress: 409,
  too_large: 413,
  key_reused: 422,
  rate_limited: 429,
  internal: 500,
  unavailable: 503,
  deadline_exceeded: 504
}

/** Seconds a caller should wait before sending again, on the retryable statuses. */
const RETRY_AFTER_S = 1

/** The body of every error the gateway answers with: a BEDS error reply (lineage absent when nothing was sent). */
export const ErrorBody = Schema.Struct({
  version: Schema.Literal(PROTOCOL_VERSION),
  status: Schema.Literal("error"),
  error: Schema.Struct({ code: ErrorCode, tag: Schema.String, message: Schema.String, retryable: Schema.Boolean }),
  lineage: Schema.optional(Schema.Struct({ eventId: Schema.String, parentId: Schema.String, depth: Schema.Int }).annotations({ identifier: "lineage" }))
}).annotations({ identifier: "error_reply", description: "A BEDS error reply; `code` is from the error catalog (docs/protocol.md)" })

/**
 * A request the gateway answers itself, before or instead of a node: what was wrong, as a code of
 * the catalog. Nothing was published when the gateway refused.
 */
export class GatewayRefusal extends Schema.TaggedError<GatewayRefusal>()("GatewayRefusal", {
  code: ErrorCode,
  message: Schema.String
}) {}

const headersFor = (code: ErrorCode): Record<string, string> =>
  code === "unavailable" || code === "rate_limited" || code === "in_progress"
    ? { "retry-after": String(RETRY_AFTER_S) }
    : code === "unauthenticated"
    ? { "www-authenticate": `Bearer realm="beds", ApiKey realm="beds"` }
    : {}

/** What the gateway answers: a status, its headers and a JSON body (written by node:http or @effect/platform alike). */
export interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /** JSON text: a BEDS reply. */
  readonly body: string
}

/**
 * The answer to a reply (ok or error); `ok` gives the status of an ok reply and any headers it
 * adds. `text` is the reply as it arrived from the node (already decoded, so valid): the body then,
 * rather than the reply encoded again (a list read's reply can be large).
 */
export const replyAnswer = (reply: Reply, ok: { readonly status: number; readonly headers?: Record<string, string> } = { status: 200 }, text?: string): Answer => {
  const body = text ?? JSON.stringify(reply)
  return reply.status === "ok"
    ? { status: ok.status, headers: ok.headers ?? {}, body }
    : { status: httpStatus[reply.error.code], headers: headersFor(reply.error.code), body }
}

export const refusalAnswer = (refusal: GatewayRefusal): Answer =>
  replyAnswer({
    version: PROTOCOL_VERSION,
    status: "error",
    error: { code: refusal.code, tag: errorCatalog[refusal.code].tag, message: refusal.message, retryable: errorCatalog[refusal.code].retryable }
  })
