import type { ConfirmChannel, Message } from "amqplib"
import { Context, Deferred, Effect, Either, Layer, Option, Schema, Stream, SubscriptionRef } from "effect"
import { randomUUID } from "node:crypto"
import type { Environment } from "../config/schema.js"
import { PROTOCOL_VERSION, Reply, type Caller, type Lineage, type Request } from "../protocol/envelope.js"
import { defaultRoute, routingKey } from "../protocol/routing.js"
import { awaitChannelClose, channelCall, openConfirmChannel, publishConfirmed, publishUnconfirmed } from "../transport/channel.js"
import type { RabbitMqConfig } from "../transport/connect.js"
import { AmqpConnection, makeAmqpConnection } from "../transport/connection.js"
import { EVENTS_EXCHANGE } from "../transport/topology.js"

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
  readonly idempotencyKey?: string
  /** Unix ms after which the answer is no longer wanted. */
  readonly deadline?: number
  readonly caller?: Caller
  /** Makes this request a child event of `parent` in the lineage tree. */
  readonly parent?: Lineage
  readonly traceparent?: string
}

export interface BedsClientOptions {
  readonly rabbitmq: RabbitMqConfig
  /** Names the client in its event ids: `{clientId}.{env}.{uuid}`. */
  readonly clientId: string
  readonly env: Environment
  readonly defaultTimeoutMs: number
}

export class BedsClient extends Context.Tag("beds/BedsClient")<BedsClient, {
  /** Sends one request and waits for its reply (ok or error). Many may be in flight at once. */
  readonly request: (options: RequestOptions) => Effect.Effect<Reply, ClientError>
}>() {}

const DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"
const decodeReply = Schema.decodeUnknownEither(Schema.parseJson(Reply))

interface Pending {
  readonly deferred: Deferred.Deferred<Reply, ClientError>
}

export const makeBedsClient = (options: BedsClientOptions) =>
  Effect.gen(function*() {
    const amqp = yield* AmqpConnection
    const pending = new Map<string, Pending>()
    const session = yield* SubscriptionRef.make<Option.Option<ConfirmChannel>>(Option.none())

    const failAll = (error: ClientError) => {
      for (const [id, entry] of pending) {
        Deferred.unsafeDone(entry.deferred, Effect.fail(error))
        pending.delete(id)
      }
    }
    const onReply = (message: Message | null) => {
      if (message === null) return
      const entry = pending.get(message.properties.correlationId)
      if (entry === undefined) return // late reply to a request that timed out: nothing waits for it
      const decoded = decodeReply(message.content.toString("utf8"))
      Deferred.unsafeDone(entry.deferred, Either.match(decoded, {
        onLeft: (error) => Effect.fail(new ClientPublishFailed({ reason: `undecodable reply: ${error.message.split("\n")[0]}` })),
        onRight: Effect.succeed
      }))
    }
    const onReturn = (message: Message) => {
      const entry = pending.get(message.properties.correlationId)
      if (entry !== undefined) {
        Deferred.unsafeDone(entry.deferred, Effect.fail(new ClientPublishFailed({
          reason: `no queue is bound for routing key ${message.fields.routingKey}: no node serves that route`
        })))
      }
    }

    // One channel per connection: replies arrive on the direct reply-to pseudo-queue, which must be
    // consumed (no-ack) on the channel that publishes the requests.
    const sessionLife = Effect.scoped(Effect.gen(function*() {
      const connection = yield* amqp.current
      const channel = yield* openConfirmChannel(connection)
      channel.on("return", onReturn)
      yield* channelCall(() => channel.consume(DIRECT_REPLY_TO, onReply, { noAck: true }))
      yield* SubscriptionRef.set(session, Option.some(channel))
      const reason = yield* awaitChannelClose(channel).pipe(Effect.ensuring(SubscriptionRef.set(session, Option.none())))
      failAll(new ClientDisconnected({ reason }))
      yield* Effect.logDebug(`beds client: channel closed (${reason}); waiting for the connection`)
    }))
    yield* sessionLife.pipe(
      Effect.catchAll((error) => Effect.logDebug(`beds client: ${error.reason}`).pipe(Effect.zipRight(Effect.sleep("100 millis")))),
      Effect.forever,
      Effect.forkScoped
    )
    yield* Effect.addFinalizer(() => Effect.sync(() => failAll(new ClientDisconnected({ reason: "client closed" }))))

    // The common case reads the ref; only a request sent while disconnected waits on its changes.
    const awaitChannel = session.changes.pipe(
      Stream.filterMap((s) => s),
      Stream.runHead,
      Effect.flatMap(Option.match({ onNone: () => Effect.dieMessage("client session stream ended"), onSome: Effect.succeed }))
    )
    // While disconnected a request waits for the channel, but no longer than its own timeout.
    const currentChannel = (deferred: Deferred.Deferred<Reply, ClientError>) =>
      Effect.flatMap(SubscriptionRef.get(session), Option.match({
        onNone: () => Effect.raceFirst(awaitChannel, Deferred.await(deferred).pipe(Effect.zipRight(Effect.never))),
        onSome: Effect.succeed
      }))

    // Untraced: a span per request is measurable on this path (see BENCHMARKS once it exists).
    const request = Effect.fnUntraced(function*(request: RequestOptions) {
      const route = request.route ?? defaultRoute(request.op)
      if (route === undefined) {
        return yield* new ClientUsageError({ message: `op ${request.op} has no default route: pass route` })
      }
      const timeoutMs = request.timeoutMs ?? options.defaultTimeoutMs
      const reliable = (request.delivery ?? (route === "read" ? "fast" : "reliable")) === "reliable"
      const correlationId = randomUUID()
      const eventId = `${options.clientId}.${options.env}.${randomUUID()}`
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
        ...(request.caller === undefined ? {} : { caller: request.caller })
      }
      const deferred = yield* Deferred.make<Reply, ClientError>()
      // One timer per request failing the same Deferred a reply completes: cheaper than racing a
      // sleeping fiber (Effect.timeout) against every request, and it covers the wait for a channel too.
      const timer = setTimeout(
        () => Deferred.unsafeDone(deferred, Effect.fail(new ClientTimeout({ correlationId, timeoutMs }))),
        timeoutMs
      )
      return yield* Effect.gen(function*() {
        const channel = yield* currentChannel(deferred)
        pending.set(correlationId, { deferred })
        const publish = reliable ? publishConfirmed : publishUnconfirmed
        yield* publish(channel, EVENTS_EXCHANGE, routingKey(route, request.template, request.op), Buffer.from(JSON.stringify(envelope)), {
          correlationId,
          replyTo: DIRECT_REPLY_TO,
          messageId: eventId,
          contentType: "application/json",
          persistent: reliable,
          mandatory: true,
          ...(request.traceparent === undefined ? {} : { headers: { traceparent: request.traceparent } })
        }).pipe(Effect.mapError((error) => new ClientDisconnected({ reason: error.reason })))
        return yield* Deferred.await(deferred)
      }).pipe(
        Effect.ensuring(Effect.sync(() => {
          clearTimeout(timer)
          pending.delete(correlationId)
        }))
      )
    })

    return BedsClient.of({ request })
  })

/** A client with its own connection (named for the RabbitMQ UI), closed with the layer. */
export const BedsClientLive = (options: BedsClientOptions) =>
  Layer.scoped(BedsClient, makeBedsClient(options)).pipe(
    Layer.provide(Layer.scoped(AmqpConnection, makeAmqpConnection(options.rabbitmq, {
      name: `beds client ${options.clientId}`,
      connectTimeoutMs: options.defaultTimeoutMs
    })))
  )

