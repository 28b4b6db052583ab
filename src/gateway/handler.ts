import { type HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect, Either, Schema } from "effect"
import type { ClientError, BedsClient, RequestOptions } from "../client/client.js"
import type { GatewaySettings } from "../config/gateway.js"
import type { Caller } from "../protocol/envelope.js"
import { describeProblem, firstProblem } from "../kernel/parse-issue.js"
import { JOB_ROUTE, TICKETS_TEMPLATE, TRACEPARENT } from "../protocol/routing.js"
import { recordGatewayRequest } from "../telemetry/metrics.js"
import { type CompiledOperation, type CompiledTemplate, mayRun } from "../templates/registry.js"
import { operationPath, ticketPath } from "./api.js"
import { IdempotencyKey, requestValues, TimeoutMs } from "./input.js"
import { GatewayRefusal, refusalResponse, replyResponse } from "./status.js"

type Authenticate = (headers: Readonly<Record<string, string | undefined>>) => Effect.Effect<Caller, GatewayRefusal>
type Handler = (input: { readonly request: HttpServerRequest.HttpServerRequest }) => Effect.Effect<HttpServerResponse.HttpServerResponse>

const refuse = (code: GatewayRefusal["code"], message: string) => new GatewayRefusal({ code, message })

/** A refusal answered by the gateway itself: nothing was published. */
const refused = (refusal: GatewayRefusal) => {
  const response = refusalResponse(refusal)
  recordGatewayRequest(response.status, "refused")
  return Effect.succeed(response)
}

const clientFailure = (error: ClientError, timeoutMs: number): GatewayRefusal => {
  switch (error._tag) {
    case "ClientTimeout":
      return refuse("deadline_exceeded", `no reply within ${timeoutMs} ms; the request may still run: resend with the same Idempotency-Key for its outcome`)
    case "ClientDisconnected":
      return refuse("unavailable", `the gateway's connection to RabbitMQ dropped (${error.reason}); resend with the same Idempotency-Key`)
    case "ClientPublishFailed":
      return refuse("unavailable", error.reason)
    case "ClientUsageError":
      return refuse("internal", error.message)
  }
}

const decodeHeader = <A>(schema: Schema.Schema<A, string>, headers: Readonly<Record<string, string | undefined>>, name: string, rule: string) => {
  const text = headers[name]
  if (text === undefined) return Either.right(undefined)
  return Either.mapLeft(Schema.decodeEither(schema)(text), () => refuse("validation", `header ${name}: expected ${rule}, found ${JSON.stringify(text.slice(0, 64))}`))
}

/**
 * The gateway's path for one request, top to bottom: who calls (401), may they run it (403), its
 * headers and values decoded with the operation's Schema (400, 413), then the envelope, signed by
 * the client with the gateway's producer key, over AMQP, and the reply as JSON with its status.
 * Everything before the send answers without publishing anything.
 */
export const makeHandlers = (settings: GatewaySettings, client: BedsClient["Type"], authenticate: Authenticate) => {
  const send = (options: RequestOptions, timeoutMs: number, okResponse: (data: unknown) => { status: number; headers?: Record<string, string> }) =>
    client.request({ ...options, timeoutMs, deadline: Date.now() + timeoutMs }).pipe(
      Effect.map((reply) => {
        const response = replyResponse(reply, reply.status === "ok" ? okResponse(reply.data) : undefined)
        recordGatewayRequest(response.status, "published")
        return response
      }),
      Effect.catchAll((error) => {
        const response = refusalResponse(clientFailure(error, timeoutMs))
        recordGatewayRequest(response.status, "published")
        return Effect.succeed(response)
      })
    )

  const common = (headers: Readonly<Record<string, string | undefined>>) =>
    Effect.gen(function*() {
      const caller = yield* authenticate(headers)
      const timeout = yield* decodeHeader(TimeoutMs, headers, "x-beds-timeout-ms", "a positive integer (milliseconds)")
      const traceparent = headers["traceparent"]
      return {
        caller,
        timeoutMs: Math.min(timeout ?? settings.request_timeout_ms, settings.request_timeout_ms),
        ...(traceparent !== undefined && TRACEPARENT.test(traceparent) ? { traceparent } : {})
      }
    })

  /** POST (and, for reads, GET) /v1/{template}/{op}. */
  const operation = (compiled: CompiledTemplate, op: CompiledOperation): Handler => ({ request }) =>
    Effect.gen(function*() {
      const { headers } = request
      const { caller, timeoutMs, ...trace } = yield* common(headers)
      const name = `${compiled.template.name}.${op.op}`
      if (!mayRun(op, caller)) return yield* refuse("forbidden", `caller may not run ${name}`)
      const idempotencyKey = yield* decodeHeader(IdempotencyKey, headers, "idempotency-key", "1 to 128 printable ASCII characters")
      const values = yield* requestValues(request, compiled, op, settings.max_body_bytes)
      const ticket = op.longRunning || /(^|[,;\s])respond-async($|[,;\s])/i.test(headers["prefer"] ?? "")
      const options: RequestOptions = {
        template: compiled.template.name,
        op: op.op,
        [op.input]: values,
        caller,
        route: ticket ? JOB_ROUTE : compiled.template.routes[op.kind],
        ...(ticket ? { ticket: true } : {}),
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
        ...trace
      }
      return yield* send(options, timeoutMs, (data) => {
        const record = (typeof data === "object" && data !== null ? data : {}) as Record<string, unknown>
        if (ticket) return { status: 202, headers: { location: ticketPath(String(record["ticket_id"])) } }
        const key = record[compiled.template.key]
        if (op.standard === "create" && key !== undefined && key !== null && compiled.operations.get("fetch") !== undefined) {
          const query = new URLSearchParams({ [compiled.template.key]: String(key) })
          return { status: 201, headers: { location: `${operationPath(compiled.template.name, "fetch")}?${query}` } }
        }
        return { status: op.standard === "create" ? 201 : 200 }
      })
    }).pipe(Effect.catchTag("GatewayRefusal", refused))

  /** GET /v1/tickets/{id}: the poll of a ticket (the tickets template's fetch). */
  const ticketPoll = (fetch: CompiledOperation): Handler => ({ request }) =>
    Effect.gen(function*() {
      const { caller, timeoutMs, ...trace } = yield* common(request.headers)
      const query = { ticket_id: decodeURIComponent(new URL(request.url, "http://gateway").pathname.split("/").at(-1) ?? "") }
      const decoded = fetch.decode(query)
      if (decoded._tag === "Left") return yield* refuse("validation", `ticket id: ${describeProblem(firstProblem(decoded.left.issue))}`)
      const options: RequestOptions = { template: TICKETS_TEMPLATE, op: "fetch", query, caller, ...trace }
      return yield* send(options, timeoutMs, () => ({ status: 200 }))
    }).pipe(Effect.catchTag("GatewayRefusal", refused))

  return { operation, ticketPoll }
}
