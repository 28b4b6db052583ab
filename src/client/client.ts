import type { Channel, ConfirmChannel, Message } from "amqplib"
import { Cause, Context, Effect, Either, Exit, Layer, Redacted, Schema } from "effect"
import { randomUUID } from "node:crypto"
import type { Environment } from "../config/schema.js"
import { PROTOCOL_VERSION, Reply, type Caller, type Lineage, type Request } from "../protocol/envelope.js"
import { defaultRoute, JOB_ROUTE, routingKey } from "../protocol/routing.js"
import { awaitChannelClose, channelCall, openChannel, openConfirmChannel } from "../transport/channel.js"
import { reasonOf } from "../kernel/errors.js"
import type { RabbitMqConfig } from "../transport/connect.js"
import { AmqpConnection, makeAmqpConnection } from "../transport/connection.js"
import { DIRECT_REPLY_TO, EVENTS_EXCHANGE, SENT_AT_HEADER } from "../protocol/routing.js"
import { signatureHeaders } from "../protocol/signature.js"
import { contextOfHeaders, endSpan, headersOfContext, SpanKind, startSpan } from "../telemetry/tracing.js"
import type { Tracer } from "@opentelemetry/api"

/** No reply within the request's timeout. The request may still run: retry with the same idempotencyKey. */
export class ClientTimeout extends Schema.TaggedError<ClientTimeout>()("ClientTimeout", {
  correlationId: Schema.String,
  timeoutMs: Schema.Number
}) {}
/** The connection dropped while the request waited; later requests use the new connection. */
export class ClientDisconnected extends Schema.TaggedError<ClientDisconnected>()("ClientDisconnected", { reason: Schema.String }) {}
/** RabbitMQ had no queue bound for the routing key (no node serves that route), or refused the publish. */
export class ClientPublishFailed extends Schema.TaggedError<ClientPublishFailed>()("ClientPublishFailed", { reason: Schema.String }) {}
/** The options name no route and the op is not one of the four standard ones. */
export class ClientUsageError extends Schema.TaggedError<ClientUsageError>()("ClientUsageError", { message: Schema.String }) {}

export type ClientError = ClientTimeout | ClientDisconnected | ClientPublishFailed | ClientUsageError

export interface RequestOptions {
  readonly template: string
  readonly op: string
  readonly data?: Record<string, unknown>
  readonly query?: Record<string, unknown>
  /** First word of the routing key; default: fetch -> read, create/update/delete -> write. */
  readonly route?: string
  /** fast: transient message, no publisher confirm; reliable: persistent and confirmed. Default: reads fast, the rest reliable. */
  readonly delivery?: "fast" | "reliable"
  readonly timeoutMs?: number
  /**
   * The request's idempotency key. Default: a fresh one for every request off the read route, so a
   * mutation runs once however often it is delivered or resent (docs/protocol.md, Idempotency).
   */
  readonly idempotencyKey?: string
  /**
   * Sends again, up to this many times, when no reply came (ClientTimeout, ClientDisconnected) or
   * the reply is retryable (`unavailable`, `in_progress`): the same envelope each time (its
   * eventId and idempotencyKey), so the node runs it once and answers with its outcome. Default 0.
   */
  readonly resends?: number
  /** Unix ms after which the answer is no longer wanted. */
  readonly deadline?: number
  readonly caller?: Caller
  /**
   * Asks for a ticket (docs/protocol.md, Tickets): the reply is the ticket, the request runs as a
   * job. Sent on route `job` unless `route` says otherwise (an operation its template marks
   * long-running needs route `job` too, with or without this).
   */
  readonly ticket?: boolean
  /** A queue (within the signing key's reply_prefix) that gets one message when the ticket ends. */
  readonly notify?: string
  /** Makes this request a child event of `parent` in the lineage tree. */
  readonly parent?: Lineage
  readonly traceparent?: string
}

export interface BedsClientOptions {
  readonly rabbitmq: RabbitMqConfig
  /** Traces each request (a producer span; the request carries its context). Default: none. */
  readonly tracer?: Tracer
  /**
   * The producer key each request is signed with (docs/protocol.md, Trust): the node trusts a
   * request's caller only when a key it knows vouches for it. Unset: requests go unsigned, which
   * only a node with trust.anonymous on accepts (and runs with no caller).
   */
  readonly signing?: { readonly keyId: string; readonly secret: Redacted.Redacted<string> }
  /** Names the client in its event ids: `{clientId}.{env}.{uuid}`. */
  readonly clientId: string
  readonly env: Environment
  readonly defaultTimeoutMs: number
}

export class BedsClient extends Context.Tag("beds/BedsClient")<BedsClient, {
  /** Sends one request and waits for its reply (ok or error). Many may be in flight at once. */
  readonly request: (options: RequestOptions) => Effect.Effect<Reply, ClientError>
  /**
   * The same request for callers outside Effect (the Promise facade): `done` is called once, with
   * the reply or the error, and with a reply the JSON text it arrived as (decoded, so valid), for
   * a caller that passes the reply on unchanged (the HTTP gateway answers with it, not encoding it
   * again). Returns a function that abandons the request (its reply is ignored).
   */
  readonly send: (options: RequestOptions, done: Done) => () => void
}>() {}

const decodeReply = Schema.decodeUnknownEither(Schema.parseJson(Reply))

/** Called once per request: the reply (with the JSON text it arrived as) or the error. */
export type Done = (result: Exit.Exit<Reply, ClientError>, replyText?: string) => void

interface Pending {
  readonly done: Done
  readonly timer: ReturnType<typeof setTimeout>
}

/** The fast path publishes on a plain channel, the reliable path on a confirm channel. */
interface Session {
  readonly fast: Channel
  readonly reliable: ConfirmChannel
}

/**
 * The client's core is plain callbacks, not a fiber per request: a request is a pending entry (its
 * completion and its timer) keyed by correlationId, completed once by whichever comes first: the
 * reply, its timeout, a return (no queue bound), a refused publish, or the channel closing. Measured
 * in the benchmark, a fiber, a Deferred and a scope per request cost the client more CPU than
 * RabbitMQ spent on the request (BENCHMARKS.md). The channels themselves are managed in Effect.
 */
export const makeBedsClient = (options: BedsClientOptions) =>
  Effect.gen(function*() {
    const amqp = yield* AmqpConnection
    const tracer = options.tracer
    const signing = options.signing
    const signingSecret = signing === undefined ? undefined : Redacted.value(signing.secret)
    const pending = new Map<string, Pending>()
    let session: Session | undefined
    // Sends made while there is no session, run when one opens (or dropped once timed out).
    let waiting: Array<() => void> = []

    /** Removes a request from `pending` (and stops its timer); undefined if it was already gone. */
    const forget = (correlationId: string): Pending | undefined => {
      const entry = pending.get(correlationId)
      if (entry === undefined) return undefined
      pending.delete(correlationId)
      clearTimeout(entry.timer)
      return entry
    }
    // Once only: a late reply, or a confirm after the reply, finds nothing pending.
    const complete = (correlationId: string, result: Exit.Exit<Reply, ClientError>, replyText?: string) => forget(correlationId)?.done(result, replyText)
    const failAll = (error: ClientError) => {
      for (const correlationId of [...pending.keys()]) complete(correlationId, Exit.fail(error))
    }
    const onReply = (message: Message | null) => {
      if (message === null) return
      const correlationId = message.properties.correlationId
      if (!pending.has(correlationId)) return // late reply to a request that timed out: nothing waits for it
      const text = message.content.toString("utf8")
      const decoded = decodeReply(text)
      if (Either.isRight(decoded)) return complete(correlationId, Exit.succeed(decoded.right), text)
      complete(correlationId, Exit.fail(new ClientPublishFailed({ reason: `undecodable reply: ${decoded.left.message.split("\n")[0]}` })))
    }
    const onReturn = (message: Message) =>
      complete(message.properties.correlationId, Exit.fail(new ClientPublishFailed({
        reason: `no queue is bound for routing key ${message.fields.routingKey}: no node serves that route`
      })))

    // Two channels per connection, so that fast requests cost RabbitMQ no confirm. Replies arrive
    // on the direct reply-to pseudo-queue, which must be consumed (no-ack) on the channel that
    // publishes the requests: each channel has its own consumer, both feeding `pending`.
    const openSessionChannel = <C extends Channel>(channel: C) =>
      Effect.sync(() => channel.on("return", onReturn)).pipe(
        Effect.zipRight(channelCall(() => channel.consume(DIRECT_REPLY_TO, onReply, { noAck: true }))),
        Effect.as(channel)
      )
    const sessionLife = Effect.scoped(Effect.gen(function*() {
      const connection = yield* amqp.current
      const fast = yield* openChannel(connection).pipe(Effect.flatMap(openSessionChannel))
      const reliable = yield* openConfirmChannel(connection).pipe(Effect.flatMap(openSessionChannel))
      yield* Effect.sync(() => {
        session = { fast, reliable }
        const ready = waiting
        waiting = []
        for (const sendNow of ready) sendNow()
      })
      const reason = yield* Effect.raceFirst(awaitChannelClose(fast), awaitChannelClose(reliable)).pipe(
        Effect.ensuring(Effect.sync(() => {
          session = undefined
        }))
      )
      failAll(new ClientDisconnected({ reason }))
      yield* Effect.logDebug(`beds client: channel closed (${reason}); waiting for the connection`)
    }))
    yield* sessionLife.pipe(
      Effect.catchAll((error) => Effect.logDebug(`beds client: ${error.reason}`).pipe(Effect.zipRight(Effect.sleep("100 millis")))),
      Effect.forever,
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        waiting = []
        failAll(new ClientDisconnected({ reason: "client closed" }))
      })
    )

    const send = (request: RequestOptions, done: Done): () => void => {
      const route = request.route ?? (request.ticket === true ? JOB_ROUTE : defaultRoute(request.op))
      if (route === undefined) {
        done(Exit.fail(new ClientUsageError({ message: `op ${request.op} has no default route: pass route` })))
        return () => undefined
      }
      const eventId = `${options.clientId}.${options.env}.${randomUUID()}`
      const idempotencyKey = request.idempotencyKey ?? (route === "read" ? undefined : randomUUID())
      let resendsLeft = request.resends ?? 0
      let abandon: () => void = () => undefined
      const retryable = (result: Exit.Exit<Reply, ClientError>) => {
        if (Exit.isSuccess(result)) return result.value.status === "error" && result.value.error.retryable
        const error = Cause.failureOption(result.cause)
        return error._tag === "Some" && (error.value._tag === "ClientTimeout" || error.value._tag === "ClientDisconnected")
      }
      const attempt = () => {
        abandon = sendOnce({ ...request, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) }, route, eventId, (result, replyText) => {
          if (resendsLeft > 0 && retryable(result)) {
            resendsLeft--
            return attempt()
          }
          done(result, replyText)
        })
      }
      attempt()
      return () => abandon()
    }

    /** One publish of the envelope and its wait for a reply, under a correlationId of its own. */
    const sendOnce = (request: RequestOptions, route: string, eventId: string, done: Done): () => void => {
      const timeoutMs = request.timeoutMs ?? options.defaultTimeoutMs
      const reliable = (request.delivery ?? (route === "read" ? "fast" : "reliable")) === "reliable"
      const correlationId = randomUUID()
      const envelope: Request = {
        version: PROTOCOL_VERSION,
        template: request.template,
        op: request.op,
        lineage: request.parent === undefined
          ? { eventId, parentId: "", depth: 0 }
          : { eventId, parentId: request.parent.eventId, depth: request.parent.depth + 1 },
        ...(request.data === undefined ? {} : { data: request.data }),
        ...(request.query === undefined ? {} : { query: request.query }),
        ...(request.idempotencyKey === undefined ? {} : { idempotencyKey: request.idempotencyKey }),
        ...(request.deadline === undefined ? {} : { deadline: request.deadline }),
        ...(request.caller === undefined ? {} : { caller: request.caller }),
        ...(request.ticket === undefined ? {} : { ticket: request.ticket }),
        ...(request.notify === undefined ? {} : { notify: request.notify })
      }
      const key = routingKey(route, request.template, request.op)
      // Traced: a producer span from the publish to the reply; the request carries its W3C context.
      const traced = tracer === undefined ? undefined : startSpan(tracer, `send ${key}`, SpanKind.PRODUCER, {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "send",
        "messaging.destination.name": EVENTS_EXCHANGE,
        "messaging.rabbitmq.destination.routing_key": key,
        "messaging.message.id": eventId,
        "messaging.message.conversation_id": correlationId
      }, contextOfHeaders(request.traceparent === undefined ? undefined : { traceparent: request.traceparent }))
      const finish: Done = traced === undefined ? done : (result, replyText) => {
        endSpan(traced.span, Exit.isSuccess(result) ? (result.value.status === "error" ? result.value.error.code : undefined) : "client_error")
        done(result, replyText)
      }
      const traceHeaders = traced !== undefined
        ? headersOfContext(traced.context)
        : request.traceparent === undefined
        ? {}
        : { traceparent: request.traceparent }
      // The timer also covers the wait for a session while disconnected.
      const timer = setTimeout(() => complete(correlationId, Exit.fail(new ClientTimeout({ correlationId, timeoutMs }))), timeoutMs)
      pending.set(correlationId, { done: finish, timer })

      const signatureOf = (signedAt: number, body: Buffer) =>
        signing === undefined || signingSecret === undefined ? undefined : signatureHeaders(signingSecret, {
          keyId: signing.keyId,
          signedAt,
          exchange: EVENTS_EXCHANGE,
          routingKey: key,
          correlationId,
          replyTo: DIRECT_REPLY_TO,
          body
        })
      const publish = () => {
        const current = session
        if (!pending.has(correlationId) || current === undefined) return
        const content = Buffer.from(JSON.stringify(envelope))
        const sentAt = Date.now()
        const properties = {
          correlationId,
          replyTo: DIRECT_REPLY_TO,
          messageId: eventId,
          contentType: "application/json",
          persistent: reliable,
          mandatory: true,
          // The publish time, for the node's message-age metric; the signature over what the node acts on.
          headers: { ...traceHeaders, [SENT_AT_HEADER]: sentAt, ...signatureOf(sentAt, content) }
        }
        try {
          if (reliable) {
            // A nacked publish fails the request; the confirm of one already answered changes nothing.
            current.reliable.publish(EVENTS_EXCHANGE, key, content, properties, (error) => {
              if (error) complete(correlationId, Exit.fail(new ClientDisconnected({ reason: reasonOf(error) })))
            })
          } else {
            current.fast.publish(EVENTS_EXCHANGE, key, content, properties)
          }
        } catch (error) {
          complete(correlationId, Exit.fail(new ClientDisconnected({ reason: reasonOf(error) })))
        }
      }
      if (session === undefined) waiting.push(publish)
      else publish()
      return () => void forget(correlationId)
    }

    const request = (options: RequestOptions) =>
      Effect.async<Reply, ClientError>((resume) => {
        const abandon = send(options, (result) => resume(result))
        return Effect.sync(abandon)
      })

    return BedsClient.of({ request, send })
  })

/** A client with its own connection (named for the RabbitMQ UI), closed with the layer. */
export const BedsClientLive = (options: BedsClientOptions) =>
  Layer.scoped(BedsClient, makeBedsClient(options)).pipe(
    Layer.provide(Layer.scoped(AmqpConnection, makeAmqpConnection(options.rabbitmq, {
      name: `beds client ${options.clientId}`,
      connectTimeoutMs: options.defaultTimeoutMs
    })))
  )

