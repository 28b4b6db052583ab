import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Exit } from "effect"
import { IncomingMessage } from "node:http"
import { Socket } from "node:net"
import type { BedsClient, RequestOptions } from "../../src/client/client.js"
import { defaultGateway } from "../../src/config/gateway.js"
import { makeHandlers } from "../../src/gateway/handler.js"
import type { Answer } from "../../src/gateway/status.js"
import type { Reply } from "../../src/protocol/envelope.js"
import { makeRegistry } from "../../src/templates/registry.js"
import { fixtureTemplates } from "../support/factory.js"

// The gateway's direct path is plain callbacks (gateway/handler.ts): these tests fail if a throw
// on the way leaves a request without its one answer, or if a request is answered twice.

const get = (url: string) => {
  const request = new IncomingMessage(new Socket())
  request.method = "GET"
  request.url = url
  request.headers = { "x-api-key": "unit" }
  return request
}
const caller = () => Either.right({ id: "key:unit", roles: ["clerk"] })
const ok: Reply = { version: 1, status: "ok", data: { id: "abcdefgh" }, lineage: { eventId: "e", parentId: "", depth: 0 } }

const handlersWith = (send: BedsClient["Type"]["send"]) =>
  Effect.map(fixtureTemplates, (templates) => {
    const compiled = makeRegistry(templates).get("contract_rel")!
    const handlers = makeHandlers(defaultGateway, { send, request: () => Effect.die("unused") }, caller)
    return handlers.operation(compiled, compiled.operations.get("fetch")!)
  })

const answersOf = (handle: Effect.Effect.Success<ReturnType<typeof handlersWith>>) => {
  const answers: Array<Answer> = []
  handle(get("/v1/contract_rel/fetch?id=abcdefgh"), "/v1/contract_rel/fetch", "id=abcdefgh", (answer) => answers.push(answer))
  return answers
}

describe("the gateway's direct path", () => {
  it.effect("a read is sent with its caller, values and deadline, and its reply is the answer", () =>
    Effect.gen(function*() {
      let sent: RequestOptions | undefined
      const handle = yield* handlersWith((options, done) => {
        sent = options
        done(Exit.succeed(ok))
        return () => undefined
      })
      const answers = answersOf(handle)
      expect(answers).toHaveLength(1)
      expect(answers[0]!.status).toBe(200)
      expect(JSON.parse(answers[0]!.body)).toStrictEqual(ok)
      expect(sent).toMatchObject({ template: "contract_rel", op: "fetch", query: { id: "abcdefgh" }, caller: { id: "key:unit" }, timeoutMs: 10_000 })
      expect(sent!.deadline).toBeGreaterThan(Date.now())
    }))

  it.effect("the answer's body is the reply's text as the node sent it, not the reply encoded again", () =>
    Effect.gen(function*() {
      const text = JSON.stringify(ok, null, 2)
      const handle = yield* handlersWith((_options, done) => {
        done(Exit.succeed(ok), text)
        return () => undefined
      })
      const answers = answersOf(handle)
      expect(answers).toHaveLength(1)
      expect(answers[0]!.body).toBe(text)
    }))

  it.effect("a client that throws while sending: one 500 internal answer", () =>
    Effect.gen(function*() {
      const handle = yield* handlersWith(() => {
        throw new Error("publish blew up")
      })
      const answers = answersOf(handle)
      expect(answers).toHaveLength(1)
      expect(answers[0]!.status).toBe(500)
      expect(JSON.parse(answers[0]!.body)).toMatchObject({ status: "error", error: { code: "internal", message: /publish blew up/ } })
    }))

  it.effect("a client that calls back twice: the first reply is the one answer", () =>
    Effect.gen(function*() {
      const handle = yield* handlersWith((_options, done) => {
        done(Exit.succeed(ok))
        done(Exit.succeed({ ...ok, data: { id: "second" } }))
        return () => undefined
      })
      const answers = answersOf(handle)
      expect(answers).toHaveLength(1)
      expect(JSON.parse(answers[0]!.body).data).toStrictEqual({ id: "abcdefgh" })
    }))

  it.effect("a reply that cannot be answered (a throw while making the answer): one 500, never an exception out of the client's callback", () =>
    Effect.gen(function*() {
      const cyclic: Record<string, unknown> = {}
      cyclic["self"] = cyclic
      let thrown: unknown
      const handle = yield* handlersWith((_options, done) => {
        try {
          done(Exit.succeed({ ...ok, data: cyclic }))
        } catch (error) {
          thrown = error
        }
        return () => undefined
      })
      const answers = answersOf(handle)
      expect(thrown).toBeUndefined()
      expect(answers).toHaveLength(1)
      expect(answers[0]!.status).toBe(500)
    }))
})
