import { Cause, Either, Exit, Schema } from "effect"
import type { IncomingHttpHeaders, IncomingMessage } from "node:http"
import type { BedsClient, ClientError, RequestOptions } from "../client/client.js"
import type { GatewaySettings } from "../config/gateway.js"
import { describeProblem, firstProblem } from "../kernel/parse-issue.js"
import type { Caller, Reply } from "../protocol/envelope.js"
import { JOB_ROUTE, TICKETS_TEMPLATE, TRACEPARENT } from "../protocol/routing.js"
import { recordGatewayRequest } from "../telemetry/metrics.js"
import { type CompiledOperation, type CompiledTemplate, mayRun } from "../templates/registry.js"
import { operationPath, ticketPath } from "./api.js"
import type { Authenticated } from "./auth.js"
import { IdempotencyKey, requestValues, TimeoutMs } from "./input.js"
import { type Answer, GatewayRefusal, refusalAnswer, replyAnswer } from "./status.js"

type Authenticate = (headers: IncomingHttpHeaders) => Authenticated | Promise<Authenticated>

/**
 * One request's handling: the request (its method, headers and body stream) and where its one
 * answer goes. `search` is the URL's query string without `?`; `path` the URL's path.
 */
export type RouteHandler = (request: IncomingMessage, path: string, search: string, respond: (answer: Answer) => void) => void

/** Answers a request (the first call only) and counts the answer by its status and whether anything was published. */
type AnswerOnce = (answer: Answer, outcome: "published" | "refused") => void

const refuse = (code: GatewayRefusal["code"], message: string) => new GatewayRefusal({ code, message })

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

const decodeHeader = <A>(schema: Schema.Schema<A, string>, headers: IncomingHttpHeaders, name: string, rule: string): Either.Either<A | undefined, GatewayRefusal> => {
  const text = headers[name]
  if (text === undefined) return Either.right(undefined)
  if (typeof text !== "string") return Either.left(refuse("validation", `header ${name}: given ${text.length} times`))
  return Either.mapLeft(Schema.decodeEither(schema)(text), () => refuse("validation", `header ${name}: expected ${rule}, found ${JSON.stringify(text.slice(0, 64))}`))
}

const PREFER_ASYNC = /(^|[,;\s])respond-async($|[,;\s])/i

/**
 * The gateway's path for one request, top to bottom: who calls (401), may they run it (403), its
 * headers and values decoded with the operation's Schema (400, 413), then the envelope, signed by
 * the client with the gateway's producer key, over AMQP, and the reply as JSON with its status.
 * Everything before the send answers without publishing anything.
 *
 * Plain callbacks, not an Effect per request (docs/gateway.md, How a request is served): the
 * client's callback core (`send`), an API key checked synchronously, a JWT by a Promise only when
 * it is not yet verified. Whatever throws on the way is answered 500 `internal`, once.
 */
export const makeHandlers = (settings: GatewaySettings, client: BedsClient["Type"], authenticate: Authenticate) => {
  /** Exactly one answer per request, counted once, whatever throws. */
  const once = (respond: (answer: Answer) => void): AnswerOnce => {
    let answered = false
    return (answer: Answer, outcome: "published" | "refused") => {
      if (answered) return
      answered = true
      recordGatewayRequest(answer.status, outcome)
      respond(answer)
    }
  }
  const defect = (answer: AnswerOnce) => (error: unknown) =>
    answer(refusalAnswer(refuse("internal", `the gateway failed on this request: ${error instanceof Error ? error.message : String(error)}`)), "refused")
  /** A callback run later (a body's end, a reply): what it throws is answered too, never thrown into the event loop. */
  const protect = <Args extends Array<unknown>>(answer: AnswerOnce, callback: (...args: Args) => void) => (...args: Args) => {
    try {
      callback(...args)
    } catch (error) {
      defect(answer)(error)
    }
  }
  const guarded = (handle: (request: IncomingMessage, path: string, search: string, answer: AnswerOnce) => void): RouteHandler =>
  (request, path, search, respond) => {
    const answer = once(respond)
    protect(answer, () => handle(request, path, search, answer))()
  }

  /** Who calls, then `next` (at once for an API key or a token verified before; after jose for a new JWT). */
  const withCaller = (headers: IncomingHttpHeaders, answer: AnswerOnce, next: (caller: Caller) => void) => {
    const whenKnown = protect(answer, (result: Authenticated) =>
      Either.isLeft(result) ? answer(refusalAnswer(result.left), "refused") : next(result.right))
    const result = authenticate(headers)
    if (result instanceof Promise) result.then(whenKnown, defect(answer))
    else whenKnown(result)
  }

  /** The request's timeout and trace context from its headers. */
  const common = (headers: IncomingHttpHeaders): Either.Either<{ readonly timeoutMs: number; readonly traceparent?: string }, GatewayRefusal> =>
    Either.map(decodeHeader(TimeoutMs, headers, "x-beds-timeout-ms", "a positive integer (milliseconds)"), (timeout) => {
      const traceparent = headers["traceparent"]
      return {
        timeoutMs: Math.min(timeout ?? settings.request_timeout_ms, settings.request_timeout_ms),
        ...(typeof traceparent === "string" && TRACEPARENT.test(traceparent) ? { traceparent } : {})
      }
    })

  const send = (
    options: RequestOptions,
    timeoutMs: number,
    answer: AnswerOnce,
    okAnswer: (data: unknown) => { status: number; headers?: Record<string, string> }
  ) =>
    client.send({ ...options, timeoutMs, deadline: Date.now() + timeoutMs }, protect(answer, (exit: Exit.Exit<Reply, ClientError>, replyText?: string) => {
      if (Exit.isSuccess(exit)) {
        const reply = exit.value
        return answer(replyAnswer(reply, reply.status === "ok" ? okAnswer(reply.data) : undefined, replyText), "published")
      }
      const failure = Cause.failureOption(exit.cause)
      answer(
        refusalAnswer(failure._tag === "Some" ? clientFailure(failure.value, timeoutMs) : refuse("internal", Cause.pretty(exit.cause))),
        "published"
      )
    }))

  /** POST (and, for reads, GET) /v1/{template}/{op}. */
  const operation = (compiled: CompiledTemplate, op: CompiledOperation): RouteHandler => {
    const name = `${compiled.template.name}.${op.op}`
    const fetchable = op.standard === "create" && compiled.operations.get("fetch") !== undefined
    return guarded((request, _path, search, answer) => {
      const { headers } = request
      withCaller(headers, answer, (caller) => {
        const settled = Either.all([
          common(headers),
          mayRun(op, caller) ? Either.right(undefined) : Either.left(refuse("forbidden", `caller may not run ${name}`)),
          decodeHeader(IdempotencyKey, headers, "idempotency-key", "1 to 128 printable ASCII characters")
        ])
        if (Either.isLeft(settled)) {
          request.resume()
          return answer(refusalAnswer(settled.left), "refused")
        }
        const [{ timeoutMs, ...trace }, , idempotencyKey] = settled.right
        requestValues(request, search, compiled, op, settings.max_body_bytes, protect(answer, (values) => {
          if (Either.isLeft(values)) return answer(refusalAnswer(values.left), "refused")
          const prefer = headers["prefer"]
          const ticket = op.longRunning || (typeof prefer === "string" && PREFER_ASYNC.test(prefer))
          const options: RequestOptions = {
            template: compiled.template.name,
            op: op.op,
            [op.input]: values.right,
            caller,
            route: ticket ? JOB_ROUTE : compiled.template.routes[op.kind],
            ...(ticket ? { ticket: true } : {}),
            ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
            ...trace
          }
          send(options, timeoutMs, answer, (data) => {
            const record = (typeof data === "object" && data !== null ? data : {}) as Record<string, unknown>
            if (ticket) return { status: 202, headers: { location: ticketPath(String(record["ticket_id"])) } }
            const key = record[compiled.template.key]
            if (fetchable && key !== undefined && key !== null) {
              const query = new URLSearchParams({ [compiled.template.key]: String(key) })
              return { status: 201, headers: { location: `${operationPath(compiled.template.name, "fetch")}?${query}` } }
            }
            return { status: op.standard === "create" ? 201 : 200 }
          })
        }))
      })
    })
  }

  /** GET /v1/tickets/{id}: the poll of a ticket (the tickets template's fetch). */
  const ticketPoll = (fetch: CompiledOperation): RouteHandler =>
    guarded((request, path, _search, answer) => {
      withCaller(request.headers, answer, (caller) => {
        const settled = common(request.headers)
        if (Either.isLeft(settled)) return answer(refusalAnswer(settled.left), "refused")
        const { timeoutMs, ...trace } = settled.right
        let ticketId: string
        try {
          ticketId = decodeURIComponent(path.slice(path.lastIndexOf("/") + 1))
        } catch {
          return answer(refusalAnswer(refuse("validation", "ticket id: not a percent-encoded UTF-8 text")), "refused")
        }
        const query = { ticket_id: ticketId }
        const decoded = fetch.decode(query)
        if (decoded._tag === "Left") return answer(refusalAnswer(refuse("validation", `ticket id: ${describeProblem(firstProblem(decoded.left.issue))}`)), "refused")
        send({ template: TICKETS_TEMPLATE, op: "fetch", query, caller, ...trace }, timeoutMs, answer, () => ({ status: 200 }))
      })
    })

  return { operation, ticketPoll }
}
