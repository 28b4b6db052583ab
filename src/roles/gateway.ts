import { HttpApiBuilder, HttpApiScalar, HttpMiddleware, HttpServerRequest } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer } from "effect"
import { createServer } from "node:http"
import { BedsClient, BedsClientLive } from "../client/client.js"
import type { BedsConfig } from "../config/schema.js"
import { documentedApi } from "../gateway/openapi.js"
import { getEndpointName, TICKET_POLL } from "../gateway/api.js"
import { makeAuthenticator } from "../gateway/auth.js"
import { makeHandlers } from "../gateway/handler.js"
import { GatewayRefusal, refusalResponse } from "../gateway/status.js"
import { TICKETS_TEMPLATE } from "../protocol/routing.js"
import { recordGatewayRequest } from "../telemetry/metrics.js"
import { makeRegistry } from "../templates/registry.js"
import type { Template } from "../templates/schema.js"
import { healthResponses, type NodeHealth } from "./health.js"

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
    const client = Context.get(
      yield* Layer.build(BedsClientLive({
        rabbitmq: config.rabbitmq,
        clientId: config.node.id,
        env: config.env,
        defaultTimeoutMs: settings.request_timeout_ms,
        ...(settings.signing_key === undefined || signingKey === undefined ? {} : { signing: { keyId: settings.signing_key, secret: signingKey.secret } })
      })),
      BedsClient
    )
    const handlers = makeHandlers(settings, client, yield* makeAuthenticator(settings))

    // The groups are known only at run time, so HttpApiBuilder's per-endpoint types cannot follow
    // them (gateway/api.ts says the same of the API): `any` here, checked by the gateway's tests.
    const groups = registry.all.map((compiled) =>
      (HttpApiBuilder.group as any)(api, compiled.template.name, (group: any) => {
        for (const operation of compiled.operations.values()) {
          group = group.handleRaw(operation.op, handlers.operation(compiled, operation))
          if (operation.kind === "read") group = group.handleRaw(getEndpointName(operation.op), handlers.operation(compiled, operation))
        }
        const fetch = compiled.operations.get("fetch")
        if (compiled.template.name === TICKETS_TEMPLATE && fetch !== undefined) group = group.handleRaw(TICKET_POLL, handlers.ticketPoll(fetch))
        return group
      }) as Layer.Layer<never>
    )
    const { live, ready } = healthResponses(config, health, startedAt)
    // A path no template serves (or a method it does not take) is a JSON 404 like any other refusal.
    const notFound = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      const response = refusalResponse(new GatewayRefusal({ code: "not_found", message: `no route ${request.method} ${request.url.split("?")[0]}: see /openapi.json` }))
      recordGatewayRequest(response.status, "refused")
      return response
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
      Layer.provide(NodeHttpServer.layer(() => createServer(), { port: settings.port, host: settings.host }))
    )
  }))
