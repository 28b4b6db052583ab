import { Effect, Either, Redacted, Schema } from "effect"
import { importJWK, importSPKI, type JWTPayload, jwtVerify, type JWTVerifyGetKey } from "jose"
import { createHash, timingSafeEqual } from "node:crypto"
import type { IncomingHttpHeaders } from "node:http"
import type { GatewaySettings } from "../config/gateway.js"
import { Caller } from "../protocol/envelope.js"
import { GatewayRefusal } from "./status.js"

/** The keys in config could not be read (a PEM or JWK jose refuses): the gateway does not start. */
export class GatewayKeyError extends Schema.TaggedError<GatewayKeyError>()("GatewayKeyError", { message: Schema.String }) {}

type VerifyKey = Awaited<ReturnType<typeof importSPKI>> | Uint8Array

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest()
const decodeCaller = Schema.decodeUnknownEither(Caller)
const VERIFIED_TOKENS_MAX = 10_000

/** Who calls, or why the gateway does not know. */
export type Authenticated = Either.Either<Caller, GatewayRefusal>

const unauthenticated = (message: string) => new GatewayRefusal({ code: "unauthenticated", message })

/** A JWT's roles claim: an array of strings, or one space-separated string (as OAuth's `scope`). */
const rolesOf = (claim: unknown): unknown =>
  typeof claim === "string" ? claim.split(" ").filter((role) => role.length > 0) : claim ?? []

/**
 * Who calls the gateway (docs/gateway.md, Authentication): a bearer JWT verified with jose against
 * the configured keys (issuer, audience, expiry, the key's algorithm), or an API key compared by
 * its SHA-256 in constant time against every configured one. The result is the caller the gateway
 * puts in the envelope and vouches for with its signature.
 */
export const makeAuthenticator = (settings: GatewaySettings) =>
  Effect.gen(function*() {
    const caller = (id: unknown, roles: unknown, what: string) =>
      Either.mapLeft(decodeCaller({ id, roles }), () => unauthenticated(`${what}: the caller id must be 1-128 characters and the roles at most 32 of 1-64 characters`))

    // An API key's caller is the same on every request: decoded once, here.
    const apiKeys = Object.entries(settings.api_keys).map(([id, key]) => ({
      caller: caller(`key:${id}`, key.roles, "the API key"),
      digest: key.secret_sha256 !== undefined ? Buffer.from(key.secret_sha256, "hex") : sha256(Redacted.value(key.secret!))
    }))
    const jwt = settings.jwt
    const jwtKeys = new Map<string, { readonly alg: string; readonly key: VerifyKey }>()
    for (const [kid, key] of Object.entries(jwt?.keys ?? {})) {
      const imported = yield* Effect.tryPromise({
        try: async () =>
          key.secret !== undefined
            ? new TextEncoder().encode(Redacted.value(key.secret))
            : key.public_key !== undefined
            ? await importSPKI(key.public_key, key.alg)
            : await importJWK(JSON.parse(key.jwk!), key.alg),
        catch: (error) => new GatewayKeyError({ message: `gateway.jwt.keys.${kid}: not a usable ${key.alg} key: ${error instanceof Error ? error.message : String(error)}` })
      })
      jwtKeys.set(kid, { alg: key.alg, key: imported })
    }
    const only = jwtKeys.size === 1 ? [...jwtKeys.values()][0] : undefined
    // The key a token names (its kid), or the one key there is; the token's alg must be that key's.
    const keyOf: JWTVerifyGetKey = (header) => {
      const chosen = header.kid !== undefined ? jwtKeys.get(header.kid) : only
      if (chosen === undefined) throw new Error(header.kid !== undefined ? `unknown kid ${JSON.stringify(header.kid)}` : "the token names no kid")
      if (header.alg !== chosen.alg) throw new Error(`alg ${header.alg} is not the key's (${chosen.alg})`)
      return chosen.key
    }

    // A token once verified is taken again from here until its `exp` (plus the tolerance): a caller
    // sends the same token with every request, and verifying a signature costs more than the rest
    // of the gateway's work (ES256: ~100 µs). Bounded: emptied when full.
    const verified = new Map<string, { readonly caller: Authenticated; readonly untilMs: number }>()
    const byJwt = (token: string): Authenticated | Promise<Authenticated> => {
      if (jwt === undefined) return Either.left(unauthenticated("bearer tokens are not accepted here (no gateway.jwt)"))
      const known = verified.get(token)
      if (known !== undefined) {
        if (Date.now() <= known.untilMs) return known.caller
        verified.delete(token)
      }
      return jwtVerify(token, keyOf, { issuer: jwt.issuer, audience: jwt.audience, clockTolerance: jwt.clock_tolerance_s, requiredClaims: ["sub", "exp"] })
        .then(
          ({ payload }: { payload: JWTPayload }) => {
            const result = caller(payload.sub, rolesOf(payload[jwt.roles_claim]), "the bearer token")
            if (Either.isRight(result)) {
              if (verified.size >= VERIFIED_TOKENS_MAX) verified.clear()
              verified.set(token, { caller: result, untilMs: (payload.exp! + jwt.clock_tolerance_s) * 1000 })
            }
            return result
          },
          (error: unknown) => Either.left(unauthenticated(`the bearer token was refused: ${error instanceof Error ? error.message : "not a valid JWT"}`))
        )
    }

    const byApiKey = (presented: string) => {
      const digest = sha256(presented)
      // Every key is compared, each in constant time: how long this takes says nothing about which key matched.
      let found: (typeof apiKeys)[number] | undefined
      for (const key of apiKeys) if (timingSafeEqual(key.digest, digest) && found === undefined) found = key
      return found === undefined ? Either.left(unauthenticated("unknown API key")) : found.caller
    }

    // An API key is checked at once (no Promise, no Effect: the gateway's hot path); a JWT by jose, asynchronously.
    return (headers: IncomingHttpHeaders): Authenticated | Promise<Authenticated> => {
      const authorization = headers["authorization"]
      if (authorization !== undefined) {
        const match = /^Bearer +([A-Za-z0-9_.~+/=-]+)$/i.exec(authorization.trim())
        return match === null ? Either.left(unauthenticated("Authorization must be `Bearer <JWT>`")) : byJwt(match[1]!)
      }
      const apiKey = headers["x-api-key"]
      if (typeof apiKey === "string") return byApiKey(apiKey.trim())
      return Either.left(unauthenticated("no credentials: send Authorization: Bearer <JWT> or X-API-Key: <key>"))
    }
  })
