import { describe, expect, it } from "@effect/vitest"
import { vi } from "vitest"
import { Effect, Either, Redacted } from "effect"
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose"
import { createHash } from "node:crypto"
import { defaultGateway, type GatewaySettings } from "../../src/config/gateway.js"
import { makeAuthenticator } from "../../src/gateway/auth.js"

const hsSecret = "a-test-secret-of-enough-length-0123456789"
const sign = (key: Parameters<SignJWT["sign"]>[0], header: { alg: string; kid?: string }, claims: Record<string, unknown> = {}, sub: string | null = "ada") => {
  const jwt = new SignJWT(claims).setProtectedHeader(header).setIssuer("iss").setAudience("aud").setIssuedAt().setExpirationTime("5m")
  return (sub === null ? jwt : jwt.setSubject(sub)).sign(key)
}
const hs = new TextEncoder().encode(hsSecret)

/** Settings with an API key of each kind and three JWT keys; the private halves for the test to sign with. */
const settingsWith = async () => {
  const ec = await generateKeyPair("ES256")
  const ed = await generateKeyPair("EdDSA", { extractable: true })
  const settings: GatewaySettings = {
    ...defaultGateway,
    api_keys: {
      clerk: { secret_sha256: createHash("sha256").update("clerk-key").digest("hex"), roles: ["clerk"] },
      admin: { secret: Redacted.make("admin-key"), roles: ["admin"] }
    },
    jwt: {
      issuer: "iss",
      audience: "aud",
      roles_claim: "roles",
      clock_tolerance_s: 0,
      keys: {
        hs: { alg: "HS256", secret: Redacted.make(hsSecret) },
        ec: { alg: "ES256", public_key: await exportSPKI(ec.publicKey) },
        ed: { alg: "EdDSA", jwk: JSON.stringify(await exportJWK(ed.publicKey)) }
      }
    }
  }
  return { settings, ec: ec.privateKey, ed: ed.privateKey }
}

describe("the gateway's authenticator", () => {
  it.effect("API keys by digest or secret; JWTs by the key their kid names, with that key's algorithm only", () =>
    Effect.gen(function*() {
      const { ec, ed, settings } = yield* Effect.promise(settingsWith)
      const authenticate = yield* makeAuthenticator(settings)
      const run = (headers: Record<string, string>) => Effect.promise(async () => authenticate(headers))
      const message = (result: Either.Either<unknown, { message: string }>) => Either.match(result, { onLeft: (e) => e.message, onRight: () => "ok" })

      expect(yield* run({ "x-api-key": "clerk-key" })).toStrictEqual(Either.right({ id: "key:clerk", roles: ["clerk"] }))
      expect(yield* run({ "x-api-key": "admin-key" })).toStrictEqual(Either.right({ id: "key:admin", roles: ["admin"] }))
      expect(message(yield* run({ "x-api-key": "clerk-key-2" }))).toBe("unknown API key")

      const bearer = async (token: Promise<string>) => ({ authorization: `Bearer ${await token}` })
      const ok = yield* run(yield* Effect.promise(() => bearer(sign(hs, { alg: "HS256", kid: "hs" }, { roles: ["clerk", "admin"] }))))
      expect(ok).toStrictEqual(Either.right({ id: "ada", roles: ["clerk", "admin"] }))
      expect(yield* run(yield* Effect.promise(() => bearer(sign(ec, { alg: "ES256", kid: "ec" }, { roles: "a b" })))))
        .toStrictEqual(Either.right({ id: "ada", roles: ["a", "b"] }))
      expect(yield* run(yield* Effect.promise(() => bearer(sign(ed, { alg: "EdDSA", kid: "ed" })))))
        .toStrictEqual(Either.right({ id: "ada", roles: [] }))

      // A token naming one key but made with another algorithm (the classic HS/RS confusion), an
      // unknown kid, no kid among several keys, no subject, roles that are not strings: all refused.
      expect(message(yield* run(yield* Effect.promise(() => bearer(sign(hs, { alg: "HS256", kid: "ec" })))))).toMatch(/alg HS256 is not the key's \(ES256\)/)
      expect(message(yield* run(yield* Effect.promise(() => bearer(sign(hs, { alg: "HS256", kid: "nope" })))))).toMatch(/unknown kid "nope"/)
      expect(message(yield* run(yield* Effect.promise(() => bearer(sign(hs, { alg: "HS256" })))))).toMatch(/names no kid/)
      expect(message(yield* run(yield* Effect.promise(() => bearer(sign(hs, { alg: "HS256", kid: "hs" }, {}, null)))))).toMatch(/"sub"/)
      expect(message(yield* run(yield* Effect.promise(() => bearer(sign(hs, { alg: "HS256", kid: "hs" }, { roles: [1] })))))).toMatch(/roles/)
      expect(message(yield* run({}))).toMatch(/no credentials/)
    }))

  it.effect("a verified token is taken again without jose until its exp, then refused like any expired token", () =>
    Effect.gen(function*() {
      const { settings } = yield* Effect.promise(settingsWith)
      const authenticate = yield* makeAuthenticator(settings)
      const token = yield* Effect.promise(() => sign(hs, { alg: "HS256", kid: "hs" }, { roles: ["clerk"] }))
      const headers = { authorization: `Bearer ${token}` }
      // The first check goes through jose (a Promise); the same token again is answered at once from the cache.
      const first = authenticate(headers)
      expect(first).toBeInstanceOf(Promise)
      expect(yield* Effect.promise(async () => first)).toStrictEqual(Either.right({ id: "ada", roles: ["clerk"] }))
      expect(authenticate(headers)).toStrictEqual(Either.right({ id: "ada", roles: ["clerk"] }))
      // Past its exp (five minutes; no clock tolerance here) the cached token is verified again, and refused.
      vi.useFakeTimers({ toFake: ["Date"] })
      try {
        vi.setSystemTime(Date.now() + 6 * 60_000)
        const later = authenticate(headers)
        expect(later).toBeInstanceOf(Promise)
        const refused = yield* Effect.promise(async () => later)
        expect(Either.isLeft(refused) && refused.left.message).toMatch(/"exp" claim timestamp check failed/)
      } finally {
        vi.useRealTimers()
      }
    }))

  it.effect("a key jose cannot read stops the gateway, naming the key", () =>
    Effect.gen(function*() {
      const settings: GatewaySettings = {
        ...defaultGateway,
        jwt: { issuer: "i", audience: "a", roles_claim: "roles", clock_tolerance_s: 0, keys: { bad: { alg: "RS256", public_key: "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----" } } }
      }
      const error = yield* Effect.flip(makeAuthenticator(settings))
      expect(error.message).toMatch(/^gateway\.jwt\.keys\.bad: not a usable RS256 key/)
    }))
})
