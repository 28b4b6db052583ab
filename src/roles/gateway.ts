import { HttpApiBuilder, HttpApiScalar, HttpMiddleware, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer, NodeHttpServerRequest } from "@effect/platform-node"
import { Context, Effect, Layer } from "effect"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { ListenOptions } from "node:net"
import { BedsClient, BedsClientLive } from "../client/client.js"
import type { BedsConfig } from "../config/schema.js"
import { getEndpointName, operationPath, TICKET_POLL } from "../gateway/api.js"
import { makeAuthenticator } from "../gateway/auth.js"
import { makeHandlers, type RouteHandler } from "../gateway/handler.js"
import { documentedApi } from "../gateway/openapi.js"
import { type Answer, GatewayRefusal, refusalAnswer } from "../gateway/status.js"
import { TICKETS_TEMPLATE } from "../protocol/routing.js"
import { recordGatewayRequest } from "../telemetry/metrics.js"
import { Tracing } from "../telemetry/tracing.js"
import { type CompiledOperation, makeRegistry } from "../templates/registry.js"
import type { Template } from "../templates/schema.js"
import { healthResponses, type NodeHealth } from "./health.js"

/** An answer as @effect/platform's response. */
const toResponse = (answer: Answer) =>
  HttpServerResponse.text(answer.body, { status: answer.status, headers: answer.headers, contentType: "application/json" })

/** An answer written on node:http's response; a failed write ends the connection rather than leave the caller waiting. */
const writeAnswer = (response: ServerResponse, answer: Answer) => {
  try {
    response.writeHead(answer.status, { ...answer.headers, "content-type": "application/json", "content-length": Buffer.byteLength(answer.body) })
    response.end(answer.body)
  } catch (error) {
    response.destroy(error instanceof Error ? error : new Error(String(error)))
  }
}

const splitUrl = (url: string) => {
  const mark = url.indexOf("?")
  return mark === -1 ? { path: url, search: "" } : { path: url.slice(0, mark), search: url.slice(mark + 1) }
}

/**
 * The gateway's HTTP server: @effect/platform's `HttpServer` on node:http (NodeHttpServer listens,
 * closes and runs the HttpApi app), with one narrow escape hatch: a request for a data route
 * (`answerDirectly` finds its handler) is handled on node:http's callback with no Effect fiber,
 * scope or platform request object, which cost as much CPU as the rest of the gateway's work
 * together (docs/gateway.md, How a request is served). Everything else goes to the HttpApi app.
 */
const GatewayHttpServer = (listen: ListenOptions, answerDirectly: (request: IncomingMessage, response: ServerResponse) => boolean) =>
  Layer.scoped(
    HttpServer.HttpServer,
    Effect.gen(function*() {
      const server = createServer()
      const listening = yield* NodeHttpServer.make(() => server, listen)
      return HttpServer.make({
        address: listening.address,
        serve: (app, middleware) =>
          Effect.gen(function*() {
            // makeHandler's overload with middleware types the app through it; HttpServer.make's serve gives it untyped.
            const platform = yield* (middleware === undefined ? NodeHttpServer.makeHandler(app) : NodeHttpServer.makeHandler(app, middleware as any))
            const onRequest = (request: IncomingMessage, response: ServerResponse) => {
              if (!answerDirectly(request, response)) platform(request, response)
            }
            server.on("request", onRequest)
            yield* Effect.addFinalizer(() => Effect.sync(() => server.off("request", onRequest)))
          })
      })
    })
  ).pipe(Layer.provideMerge(NodeHttpServer.layerContext))

/**
 * The HTTP gateway (docs/gateway.md): `[gateway]` on its own port, in the process that serves the
 * node's health (the node itself, or the primary of several workers). Its routes are the HttpApi of
 * `templates` (every template file loaded, served here or by another node); each request goes out
 * over AMQP on the gateway's own BedsClient, signed with `gateway.signing_key`. Also /openapi.json,
 * the docs page /docs (Scalar, bundled in @effect/platform: no CDN) and /health/live, /health/ready.
 */
export const GatewayLive = (config: BedsConfig, templates: ReadonlyArray<Template>, health: Pick<NodeHealth, "readiness">, startedAt: number) =>
  Layer.unwrapScoped(Effect.gen(function*() {
    const settings = config.gateway
    const registry = makeRegistry(templates)
    const api = documentedApi(registry.all)
    const signingKey = settings.signing_key === undefined ? undefined : config.trust.keys[settings.signing_key]
    // Traced nodes trace the gateway's sends too: a producer span per request, under the caller's traceparent.
    const { tracer } = yield* Tracing
    const client = Context.get(
      yield* Layer.build(BedsClientLive({
        rabbitmq: config.rabbitmq,
        clientId: config.node.id,
        env: config.env,
        defaultTimeoutMs: settings.request_timeout_ms,
        ...(tracer === undefined ? {} : { tracer }),
        ...(settings.signing_key === undefined || signingKey === undefined ? {} : { signing: { keyId: settings.signing_key, secret: signingKey.secret } })
      })),
      BedsClient
    )
    const handlers = makeHandlers(settings, client, yield* makeAuthenticator(settings))

    // Each operation's handler, made once: by method and path for the direct path, and behind the HttpApi's endpoints.
    const handlerOf = new Map<CompiledOperation, RouteHandler>()
    const routes = new Map<string, RouteHandler>()
    let ticketPoll: RouteHandler | undefined
    for (const compiled of registry.all) {
      for (const operation of compiled.operations.values()) {
        const handle = handlers.operation(compiled, operation)
        handlerOf.set(operation, handle)
        const path = operationPath(compiled.template.name, operation.op)
        routes.set(`POST ${path}`, handle)
        if (operation.kind === "read") routes.set(`GET ${path}`, handle)
      }
      const fetch = compiled.operations.get("fetch")
      if (compiled.template.name === TICKETS_TEMPLATE && fetch !== undefined) ticketPoll = handlers.ticketPoll(fetch)
    }
    const TICKETS = "/v1/tickets/"
    const findRoute = (method: string, path: string) =>
      routes.get(`${method} ${path}`) ??
        (method === "GET" && path.length > TICKETS.length && path.startsWith(TICKETS) && path.indexOf("/", TICKETS.length) === -1 ? ticketPoll : undefined)
    const answerDirectly = (request: IncomingMessage, response: ServerResponse) => {
      const { path, search } = splitUrl(request.url ?? "/")
      const handle = findRoute(request.method ?? "GET", path)
      if (handle === undefined) return false
      handle(request, path, search, (answer) => writeAnswer(response, answer))
      return true
    }

    /** A data route reached through HttpApi's router (a path node:http's exact match did not take, e.g. percent-encoded): the same handler. */
    const viaHttpApi = (handle: RouteHandler) => ({ request }: { readonly request: HttpServerRequest.HttpServerRequest }) =>
      Effect.async<HttpServerResponse.HttpServerResponse>((resume) => {
        const { path, search } = splitUrl(request.url)
        handle(NodeHttpServerRequest.toIncomingMessage(request), path, search, (answer) => resume(Effect.succeed(toResponse(answer))))
      })
    // The groups are known only at run time, so HttpApiBuilder's per-endpoint types cannot follow
    // them (gateway/api.ts says the same of the API): `any` here, checked by the gateway's tests.
    const groups = registry.all.map((compiled) =>
      (HttpApiBuilder.group as any)(api, compiled.template.name, (group: any) => {
        for (const operation of compiled.operations.values()) {
          const handle = viaHttpApi(handlerOf.get(operation)!)
          group = group.handleRaw(operation.op, handle)
          if (operation.kind === "read") group = group.handleRaw(getEndpointName(operation.op), handle)
        }
        if (compiled.template.name === TICKETS_TEMPLATE && ticketPoll !== undefined) group = group.handleRaw(TICKET_POLL, viaHttpApi(ticketPoll))
        return group
      }) as Layer.Layer<never>
    )
    const { live, ready } = healthResponses(config, health, startedAt)
    // A path no template serves (or a method it does not take) is a JSON 404 like any other refusal.
    const notFound = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      const answer = refusalAnswer(new GatewayRefusal({ code: "not_found", message: `no route ${request.method} ${request.url.split("?")[0]}: see /openapi.json` }))
      recordGatewayRequest(answer.status, "refused")
      return toResponse(answer)
    })
    const extraRoutes = HttpApiBuilder.Router.use((router) =>
      Effect.all([router.get("/health/live", live), router.get("/health/ready", ready), router.all("*", notFound)], { discard: true }))
    const docs = settings.docs
      ? Layer.mergeAll(
        HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" }),
        HttpApiScalar.layer({ path: "/docs", scalar: { withDefaultFonts: false } })
      )
      : Layer.empty

    return HttpApiBuilder.serve().pipe(
      // An HTTP request makes no Effect span unless the node traces (as an AMQP request makes none).
      HttpMiddleware.withTracerDisabledWhen(() => !config.tracing.enabled),
      Layer.provide(Layer.mergeAll(docs, extraRoutes)),
      Layer.provide(HttpApiBuilder.api(api).pipe(Layer.provide(groups.reduce((all, group) => Layer.merge(all, group), Layer.empty)))),
      Layer.provide(GatewayHttpServer({ port: settings.port, host: settings.host }, answerDirectly))
    )
  }))
