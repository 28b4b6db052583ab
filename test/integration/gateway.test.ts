import { HttpApiClient, HttpClient, HttpClientRequest, FetchHttpClient } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { Validator } from "@seriousme/openapi-schema-validator"
import { Effect } from "effect"
import { randomBytes, randomUUID } from "node:crypto"
import { mkdtemp, rm, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { documentedApi } from "../../src/gateway/openapi.js"
import { loadTemplates } from "../../src/templates/load.js"
import { makeRegistry } from "../../src/templates/registry.js"
import { hasChromium, screenshot } from "../../scripts/gateway-screenshot.mjs"
import { apiKeys, counterSum, startGatewayNode, type GatewayNode } from "../support/gateway.js"
import { repoRoot } from "../support/node-process.js"

// The HTTP gateway of an appServer node started as `node dist/main.js` (a child process), over
// real RabbitMQ, MariaDB, jongodb and dynalite. The node allows 1 request/s per caller and route
// above a burst of 25, so each test calls as a caller of its own (a JWT subject) except where an
// API key is the point.

let gw: GatewayNode
const freshId = () => `gw${randomBytes(6).toString("hex")}`
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

beforeAll(async () => {
  gw = await startGatewayNode({ requests_per_s: 1, burst: 25 })
}, 120_000)
afterAll(() => gw?.stop(), 60_000)

const call = async (method: string, path: string, options: { body?: unknown; raw?: string; headers?: Record<string, string>; auth?: string | null } = {}) => {
  const headers: Record<string, string> = { ...options.headers }
  if (options.auth !== null) headers["authorization"] ??= `Bearer ${options.auth ?? (await gw.jwt({ sub: "tester", roles: ["clerk"] }))}`
  const body = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body))
  if (body !== undefined) headers["content-type"] ??= "application/json"
  const response = await fetch(`${gw.base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) })
  const text = await response.text()
  return { status: response.status, headers: response.headers, json: text === "" ? undefined : JSON.parse(text) as any }
}

describe("HTTP gateway: CRUD on every store", () => {
  for (const template of ["contract_rel", "contract_rec", "contract_kv"]) {
    it(`${template}: create 201, fetch (POST and GET), named read, update, stale update 409, delete, then 404`, async () => {
      const auth = await gw.jwt({ sub: `crud-${template}`, roles: [] })
      const id = freshId()
      const created = await call("POST", `/v1/${template}/create`, { auth, body: { id, title: `t ${id}`, count: 1, score: 1.5, flag: true } })
      expect(created.status, JSON.stringify(created.json)).toBe(201)
      expect(created.json).toMatchObject({ status: "ok", data: { id, title: `t ${id}`, count: 1, version: 1 } })
      expect(created.headers.get("location")).toBe(`/v1/${template}/fetch?id=${id}`)

      const byPost = await call("POST", `/v1/${template}/fetch`, { auth, body: { id } })
      expect(byPost.status).toBe(200)
      expect(byPost.json.data).toMatchObject({ id, count: 1, score: 1.5, flag: true })
      const byGet = await call("GET", created.headers.get("location")!, { auth })
      expect(byGet.status).toBe(200)
      expect(byGet.json.data).toStrictEqual(byPost.json.data)
      const named = await call("GET", `/v1/${template}/by_title?title=${encodeURIComponent(`t ${id}`)}`, { auth })
      expect(named.status).toBe(200)
      expect(named.json.data).toMatchObject([{ id }])

      const updated = await call("POST", `/v1/${template}/update`, { auth, body: { id, count: 2, version: 1 } })
      expect(updated.status, JSON.stringify(updated.json)).toBe(200)
      expect(updated.json.data).toMatchObject({ id, count: 2, version: 2 })
      const stale = await call("POST", `/v1/${template}/update`, { auth, body: { id, count: 3, version: 1 } })
      expect(stale.status).toBe(409)
      expect(stale.json).toMatchObject({ status: "error", error: { code: "conflict" } })

      const deleted = await call("POST", `/v1/${template}/delete`, { auth, body: { id } })
      expect(deleted.status, JSON.stringify(deleted.json)).toBe(200)
      expect(deleted.json.data).toStrictEqual({ id })
      const gone = await call("GET", `/v1/${template}/fetch?id=${id}`, { auth })
      expect(gone.status).toBe(404)
      expect(gone.json).toMatchObject({ status: "error", error: { code: "not_found", retryable: false } })
    }, 30_000)
  }
})

describe("HTTP gateway: the direct path and HttpApi's router", () => {
  it("a data route node:http's exact match does not take (percent-encoded) is routed by HttpApi to the same handler, with the same answers", async () => {
    const auth = await gw.jwt({ sub: "encoded", roles: ["clerk"] })
    const id = freshId()
    expect((await call("POST", "/v1/contract_rel/create", { auth, body: { id, title: "routed" } })).status).toBe(201)
    const direct = await call("GET", `/v1/contract_rel/fetch?id=${id}`, { auth })
    const routed = await call("GET", `/v1/contract%5Frel/fetch?id=${id}`, { auth })
    expect(direct.status).toBe(200)
    expect(routed.status, JSON.stringify(routed.json)).toBe(200)
    expect(routed.headers.get("content-type")).toMatch(/^application\/json/)
    expect(routed.json.data).toStrictEqual(direct.json.data)
    const missing = await call("POST", "/v1/contract%5Frel/fetch", { auth, body: { id: `zz${id}`.slice(0, 16) } })
    expect(missing.status).toBe(404)
    expect(missing.json.error.code).toBe("not_found")
    const refused = await call("GET", `/v1/contract%5Frel/fetch?id=${id}`, { auth: null })
    expect(refused.status).toBe(401)
    expect(refused.headers.get("www-authenticate")).toMatch(/^Bearer/)
  })
})

describe("HTTP gateway: refusals before anything is published", () => {
  it("malformed, oversized, unauthenticated, forbidden, unknown: each a 4xx JSON error, and nothing reaches RabbitMQ or a database", async () => {
    const before = await (await fetch(gw.metricsUrl)).text()
    const auth = await gw.jwt({ sub: "refusals", roles: ["clerk"] })
    const expired = await gw.jwt({ sub: "refusals", expiresIn: Math.floor(Date.now() / 1000) - 3600 })
    const otherAudience = await gw.jwt({ sub: "refusals", aud: "someone-else" })
    const forged = `${auth.slice(0, auth.lastIndexOf(".") + 1)}${"A".repeat(43)}`
    const cases: Array<[string, Promise<Awaited<ReturnType<typeof call>>>, number, string, RegExp]> = [
      ["not JSON", call("POST", "/v1/contract_rel/create", { auth, raw: "{not json" }), 400, "validation", /not UTF-8 JSON/],
      ["a JSON array", call("POST", "/v1/contract_rel/create", { auth, raw: "[1]" }), 400, "validation", /must be a JSON object/],
      ["a wrong type", call("POST", "/v1/contract_rel/create", { auth, body: { id: freshId(), title: "x", count: "many" } }), 400, "validation", /^data\.count/],
      ["an unknown field", call("POST", "/v1/contract_rel/create", { auth, body: { id: freshId(), title: "x", colour: "red" } }), 400, "validation", /colour/],
      ["a missing key", call("GET", "/v1/contract_kv/fetch", { auth }), 400, "validation", /query\.id/],
      ["a text body", call("POST", "/v1/contract_rel/create", { auth, raw: "id=1", headers: { "content-type": "text/plain" } }), 400, "validation", /Content-Type/],
      ["a bad Idempotency-Key", call("POST", "/v1/contract_rel/create", { auth, body: { id: freshId(), title: "x" }, headers: { "idempotency-key": "has space" } }), 400, "validation", /idempotency-key/],
      ["a bad timeout header", call("GET", "/v1/contract_rel/fetch?id=abcdefgh", { auth, headers: { "x-beds-timeout-ms": "soon" } }), 400, "validation", /x-beds-timeout-ms/],
      ["a body over max_body_bytes", call("POST", "/v1/contract_rel/create", { auth, body: { id: freshId(), title: "x".repeat(300_000) } }), 413, "too_large", /4096/],
      ["no credentials", call("POST", "/v1/contract_rel/create", { auth: null, body: { id: freshId(), title: "x" } }), 401, "unauthenticated", /no credentials/],
      ["an unknown API key", call("GET", "/v1/contract_rel/fetch?id=abcdefgh", { auth: null, headers: { "x-api-key": "nope" } }), 401, "unauthenticated", /unknown API key/],
      ["a forged JWT", call("GET", "/v1/contract_rel/fetch?id=abcdefgh", { auth: forged }), 401, "unauthenticated", /signature/],
      ["an expired JWT", call("GET", "/v1/contract_rel/fetch?id=abcdefgh", { auth: expired }), 401, "unauthenticated", /exp/],
      ["another audience", call("GET", "/v1/contract_rel/fetch?id=abcdefgh", { auth: otherAudience }), 401, "unauthenticated", /aud/],
      ["a Basic header", call("GET", "/v1/contract_rel/fetch?id=abcdefgh", { headers: { authorization: "Basic dTpw" } }), 401, "unauthenticated", /Bearer/],
      ["a role the operation does not allow", call("GET", "/v1/slow/secret?seconds=0", { auth: null, headers: { "x-api-key": apiKeys.clerk } }), 403, "forbidden", /may not run slow\.secret/],
      ["an unknown template", call("POST", "/v1/nosuch/create", { auth, body: {} }), 404, "not_found", /no route POST \/v1\/nosuch\/create/],
      ["an unknown operation", call("POST", "/v1/contract_rel/explode", { auth, body: {} }), 404, "not_found", /no route/],
      ["GET on a write", call("GET", "/v1/contract_rel/create?id=abcdefgh", { auth }), 404, "not_found", /no route GET/]
    ]
    for (const [what, pending, status, code, message] of cases) {
      const answer = await pending
      expect(answer.status, `${what}: ${JSON.stringify(answer.json)}`).toBe(status)
      expect(String(answer.headers.get("content-type")), what).toMatch(/^application\/json/)
      expect(answer.json, what).toMatchObject({ version: 1, status: "error", error: { code } })
      expect(answer.json.error.message, what).toMatch(message)
      expect(answer.json.lineage, what).toBeUndefined()
    }
    // A body sent in chunks (no Content-Length) is refused past the limit too; the rest is read and
    // dropped, so the answer arrives whole on a connection that stays usable.
    const chunked = await fetch(`${gw.base}/v1/contract_rel/create`, {
      method: "POST",
      headers: { authorization: `Bearer ${auth}`, "content-type": "application/json" },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 100; i++) controller.enqueue(new TextEncoder().encode(" ".repeat(2000)))
          controller.close()
        }
      }),
      duplex: "half"
    } as RequestInit)
    expect(chunked.status).toBe(413)
    expect(chunked.headers.get("www-authenticate")).toBeNull()
    const unauthenticated = await call("GET", "/v1/contract_rel/fetch?id=abcdefgh", { auth: null })
    expect(unauthenticated.headers.get("www-authenticate")).toMatch(/^Bearer/)

    const after = await (await fetch(gw.metricsUrl)).text()
    // The gateway published nothing, and no node handled a request of these templates.
    expect(counterSum(after, "beds_gateway_requests_total", { outcome: "published" })).toBe(counterSum(before, "beds_gateway_requests_total", { outcome: "published" }))
    expect(counterSum(after, "beds_gateway_requests_total", { outcome: "refused" }) - counterSum(before, "beds_gateway_requests_total", { outcome: "refused" }))
      .toBe(cases.length + 2)
    for (const template of ["contract_rel", "contract_kv", "slow"]) {
      expect(counterSum(after, "beds_requests_total", { beds_template: template }), template).toBe(counterSum(before, "beds_requests_total", { beds_template: template }))
    }
  }, 30_000)
})

describe("HTTP gateway: statuses from the nodes' replies", () => {
  it("API keys (held as a SHA-256 or as the secret) and an ES256 JWT all authenticate; roles reach the template's allow", async () => {
    expect((await call("GET", "/v1/slow/pause?seconds=0", { auth: null, headers: { "x-api-key": apiKeys.clerk } })).status).toBe(200)
    const admin = await call("GET", "/v1/slow/secret?seconds=0", { auth: null, headers: { "x-api-key": apiKeys.admin } })
    expect(admin.status).toBe(200)
    expect(admin.json.data).toMatchObject([{ id: 1, seconds: 0 }])
    const ec = await gw.jwt({ sub: "ec-user", roles: "admin clerk", kid: "ec" })
    expect((await call("GET", "/v1/slow/secret?seconds=0", { auth: ec })).status).toBe(200)
    // The roles a token claims are vouched for by the gateway: without admin, the node's allow list is not reached.
    expect((await call("GET", "/v1/slow/secret?seconds=0", { auth: await gw.jwt({ sub: "ec-user", roles: ["clerk"], kid: "ec" }) })).status).toBe(403)
  }, 30_000)

  it("Idempotency-Key is the envelope's key: a repeat answers the first outcome, another body with it is 422", async () => {
    const auth = await gw.jwt({ sub: "idempotent" })
    const id = freshId()
    const key = `order-${id}`
    const first = await call("POST", "/v1/contract_rel/create", { auth, body: { id, title: "once" }, headers: { "idempotency-key": key } })
    expect(first.status).toBe(201)
    const again = await call("POST", "/v1/contract_rel/create", { auth, body: { id, title: "once" }, headers: { "idempotency-key": key } })
    expect(again.status).toBe(201)
    expect(again.json.data).toStrictEqual(first.json.data)
    expect(again.json.lineage.eventId).not.toBe(first.json.lineage.eventId)
    const reused = await call("POST", "/v1/contract_rel/create", { auth, body: { id, title: "twice" }, headers: { "idempotency-key": key } })
    expect(reused.status).toBe(422)
    expect(reused.json.error.code).toBe("key_reused")
    // Without a key a second create of the same id is a conflict: the key is what made the repeat harmless.
    expect((await call("POST", "/v1/contract_rel/create", { auth, body: { id, title: "once" } })).status).toBe(409)
  }, 30_000)

  it("a long-running operation is 202 with a Location; polling it gives the ticket until done", async () => {
    const auth = await gw.jwt({ sub: "tickets" })
    const id = freshId()
    expect((await call("POST", "/v1/jobs/create", { auth, body: { id, title: "job" } })).status).toBe(201)
    const submitted = await call("POST", "/v1/jobs/slow_add", { auth, body: { id, seconds: 0.1 } })
    expect(submitted.status, JSON.stringify(submitted.json)).toBe(202)
    expect(submitted.json.data).toMatchObject({ status: "pending", template: "jobs", op: "slow_add" })
    const location = submitted.headers.get("location")!
    expect(location).toBe(`/v1/tickets/${encodeURIComponent(submitted.json.data.ticket_id)}`)
    let ticket: any
    for (let polls = 0; polls < 100; polls++) {
      const polled = await call("GET", location, { auth })
      expect(polled.status).toBe(200)
      ticket = polled.json.data
      if (ticket.status === "done" || ticket.status === "failed") break
      await sleep(200)
    }
    expect(ticket).toMatchObject({ status: "done", result: [{ id, runs: 1 }] })
    // Prefer: respond-async makes any operation a ticket.
    const asked = await call("POST", "/v1/contract_rel/create", { auth, body: { id: freshId(), title: "async" }, headers: { prefer: "respond-async" } })
    expect(asked.status).toBe(202)
    expect(asked.headers.get("location")).toMatch(/^\/v1\/tickets\//)
    expect((await call("GET", "/v1/tickets/not-an-id", { auth })).status).toBe(400)
    // An id nobody issued, and another caller's ticket: the poll answers (200), and the ticket is `unknown`.
    const nobodys = `nobody.dev.${randomUUID()}`
    const unknown = await call("GET", `/v1/tickets/${nobodys}`, { auth })
    expect(unknown.status).toBe(200)
    expect(unknown.json.data).toMatchObject({ ticket_id: nobodys, status: "unknown", template: null })
    const othersPoll = await call("GET", location, { auth: await gw.jwt({ sub: "someone-else" }) })
    expect(othersPoll.json.data).toMatchObject({ status: "unknown" })
  }, 60_000)

  it("429 past the node's rate limit, 503 (Retry-After) when no node serves the route, 504 past the deadline", async () => {
    const flood = await gw.jwt({ sub: "flood" })
    const answers = await Promise.all(Array.from({ length: 60 }, () => call("GET", "/v1/contract_kv/fetch?id=abcdefgh", { auth: flood })))
    const limited = answers.filter((answer) => answer.status === 429)
    expect(limited.length).toBeGreaterThan(0)
    expect(limited[0]!.json.error).toMatchObject({ code: "rate_limited", retryable: true })
    expect(limited[0]!.headers.get("retry-after")).toBe("1")
    expect(answers.every((answer) => answer.status === 429 || answer.status === 404)).toBe(true)

    const auth = await gw.jwt({ sub: "statuses" })
    const nowhere = await call("GET", "/v1/elsewhere/fetch?id=x", { auth })
    expect(nowhere.status).toBe(503)
    expect(nowhere.json.error).toMatchObject({ code: "unavailable", retryable: true })
    expect(nowhere.json.error.message).toMatch(/no node serves that route/)
    expect(nowhere.headers.get("retry-after")).toBe("1")

    const late = await call("GET", "/v1/slow/pause?seconds=3", { auth: null, headers: { "x-api-key": apiKeys.clerk, "x-beds-timeout-ms": "300" } })
    expect(late.status, JSON.stringify(late.json)).toBe(504)
    expect(late.json.error.code).toBe("deadline_exceeded")
  }, 60_000)
})

describe("HTTP gateway: OpenAPI, client, docs, health", () => {
  it("/openapi.json is a valid OpenAPI 3.1 document listing every loaded template's operations", async () => {
    const spec = (await call("GET", "/openapi.json", { auth: null })).json
    const validator = new Validator()
    const result = await validator.validate(spec)
    expect(result.errors ?? [], JSON.stringify(result.errors)).toStrictEqual([])
    expect(result.valid).toBe(true)
    expect(validator.version).toBe("3.1")
    const templates = await Effect.runPromise(loadTemplates(gw.templatesDir).pipe(Effect.provide(NodeContext.layer)))
    for (const { template } of templates) {
      for (const op of [...["create", "fetch", "update", "delete"].filter((op) => op in template.operations), ...Object.keys(template.operations.named)]) {
        expect(spec.paths[`/v1/${template.name}/${op}`]?.post, `${template.name}.${op}`).toBeDefined()
      }
    }
    expect(spec.paths["/v1/tickets/{id}"].get).toBeDefined()
    // Fields with their types and limits, as JSON Schema.
    const body = spec.paths["/v1/contract_rel/create"].post.requestBody.content["application/json"].schema
    expect(body).toMatchObject({ required: ["id", "title"], additionalProperties: false })
    expect(body.properties.title).toMatchObject({ type: "string", minLength: 1, maxLength: 200 })
    expect(spec.paths["/v1/contract_rel/create"].post.responses["413"]).toBeDefined()
    expect(spec.components.securitySchemes).toHaveProperty("bearer")
  }, 30_000)

  it("HttpApiClient made from the same templates creates and fetches through the gateway", async () => {
    const templates = await Effect.runPromise(loadTemplates(gw.templatesDir).pipe(Effect.provide(NodeContext.layer)))
    const api = documentedApi(makeRegistry(templates.map((entry) => entry.template)).all)
    const id = freshId()
    const [created, fetched] = await Effect.runPromise(Effect.gen(function*() {
      const client: any = yield* HttpApiClient.make(api, {
        baseUrl: gw.base,
        transformClient: HttpClient.mapRequest(HttpClientRequest.setHeader("x-api-key", apiKeys.admin))
      })
      const created = yield* client.contract_rec.create({ payload: { id, title: "from the client", count: 7 } })
      const fetched = yield* client.contract_rec.fetch_get({ urlParams: { id } })
      return [created, fetched]
    }).pipe(Effect.provide(FetchHttpClient.layer)) as Effect.Effect<[any, any], unknown>)
    expect(created).toMatchObject({ status: "ok", data: { id, title: "from the client", count: 7 } })
    expect(fetched.data).toStrictEqual(created.data)
  }, 30_000)

  it("/docs is the bundled docs page (no CDN); /health/live and /health/ready answer on the gateway's port", async () => {
    const page = await fetch(`${gw.base}/docs`)
    expect(page.status).toBe(200)
    const html = await page.text()
    expect(html).toMatch(/<script id="api-reference" type="application\/json">/)
    expect(html).not.toMatch(/<script[^>]+src=/)
    expect((await call("GET", "/health/live", { auth: null })).json).toMatchObject({ live: true, role: "appServer" })
    const ready = await call("GET", "/health/ready", { auth: null })
    expect(ready.status).toBe(200)
    expect(ready.json.ready).toBe(true)
  }, 30_000)
})

describe("HTTP gateway: the docs page in a browser", () => {
  // Debian's chromium, headless (no display needed); skipped where it is not installed.
  // BEDS_GATEWAY_SCREENSHOT=docs/gateway-docs.png keeps the screenshot (how the one in docs/ was made).
  // In CI a missing chromium fails the test (.ci/run installs it) rather than skipping it unseen.
  it.skipIf(!hasChromium() && process.env["CI"] !== "true")("renders in headless Chromium with every template's operations, offline", async () => {
    const keep = process.env["BEDS_GATEWAY_SCREENSHOT"]
    const directory = await mkdtemp(path.join(tmpdir(), "beds-gw-shot-"))
    try {
      const file = keep === undefined ? path.join(directory, "docs.png") : path.resolve(repoRoot, keep)
      const text = await screenshot(`${gw.base}/docs`, file, { waitForText: "BEDS HTTP gateway" })
      expect(text).toContain("BEDS HTTP gateway")
      for (const template of ["contract_rel", "contract_rec", "contract_kv", "jobs", "tickets"]) expect(text).toContain(template)
      expect((await stat(file)).size).toBeGreaterThan(10_000)
    } finally {
      await rm(directory, { recursive: true, force: true })
    }
  }, 120_000)
})

describe("HTTP gateway on a node of several worker processes", () => {
  it("runs in the primary (beside /health) while the workers serve: a create and a fetch through it", async () => {
    const node = await startGatewayNode({}, { node: { workers: 2 } })
    try {
      expect(node.node.stdout()).toMatch(/2 workers serving/)
      const headers = { "x-api-key": apiKeys.admin, "content-type": "application/json" }
      const id = freshId()
      const created = await fetch(`${node.base}/v1/contract_rel/create`, { method: "POST", headers, body: JSON.stringify({ id, title: "workers" }) })
      expect(created.status).toBe(201)
      const fetched = await fetch(`${node.base}/v1/contract_rel/fetch?id=${id}`, { headers })
      expect(fetched.status).toBe(200)
      expect(((await fetched.json()) as any).data).toMatchObject({ id, title: "workers", version: 1 })
      const ready = await fetch(`${node.base}/health/ready`)
      expect(((await ready.json()) as any).checks.workers).toHaveLength(2)
    } finally {
      await node.stop()
    }
  }, 120_000)
})
