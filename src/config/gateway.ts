import { Schema } from "effect"
import { BooleanSetting, intBetween, Secret } from "./settings.js"

// The `[gateway]` section: the HTTP gateway of an appServer node (docs/gateway.md). Who may call it
// (API keys, JWTs), how much it takes, and which producer key (trust.keys) it signs requests with.

const Id = Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_.-]{1,64}$/, { message: () => "1 to 64 of A-Z a-z 0-9 _ . -" }))
const RoleName = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64))

/** An API key: the caller presents the secret (header X-API-Key); the gateway holds it, or only its SHA-256. */
const ApiKey = Schema.Struct({
  /** The secret's SHA-256, lower-case hex: the gateway never needs the secret itself. */
  secret_sha256: Schema.optional(Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/, { message: () => "64 lower-case hex digits (a SHA-256)" }))),
  secret: Schema.optional(Secret),
  /** The roles its caller has (as templates' `allow` lists name them). */
  roles: Schema.optionalWith(Schema.Array(RoleName), { default: () => [] })
}).pipe(Schema.filter((key) => (key.secret === undefined) !== (key.secret_sha256 === undefined) || "exactly one of secret and secret_sha256"))

/** A key JWTs are verified with: an HMAC secret (HS*), or a public key as PEM (SPKI) or as a JWK (JSON text). */
const JwtKey = Schema.Struct({
  alg: Schema.Literal("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"),
  secret: Schema.optional(Secret),
  public_key: Schema.optional(Schema.String.pipe(Schema.pattern(/^-----BEGIN PUBLIC KEY-----/, { message: () => "a PEM public key (-----BEGIN PUBLIC KEY-----)" }))),
  jwk: Schema.optional(Schema.String.pipe(Schema.minLength(2)))
}).pipe(Schema.filter((key) => {
  const given = [key.secret, key.public_key, key.jwk].filter((value) => value !== undefined).length
  if (given !== 1) return "exactly one of secret, public_key and jwk"
  return key.alg.startsWith("HS") === (key.secret !== undefined) || (key.alg.startsWith("HS") ? `alg ${key.alg} needs secret` : `alg ${key.alg} needs public_key or jwk`)
}))

const Jwt = Schema.Struct({
  /** The `iss` a token must carry. */
  issuer: Schema.String.pipe(Schema.minLength(1)),
  /** The `aud` a token must carry. */
  audience: Schema.String.pipe(Schema.minLength(1)),
  /** The claim holding the caller's roles: an array of strings, or one space-separated string. */
  roles_claim: Schema.optionalWith(Schema.String.pipe(Schema.minLength(1)), { default: () => "roles" }),
  /** Keys by id: a token whose header names a `kid` is verified with that key only. */
  keys: Schema.Record({ key: Id, value: JwtKey }).pipe(Schema.filter((keys) => Object.keys(keys).length > 0 || "at least one key")),
  /** Allowed difference between the token's times and the gateway's clock. */
  clock_tolerance_s: Schema.optionalWith(intBetween(0, 3_600), { default: () => 30 })
})

export const GatewaySection = Schema.Struct({
  enabled: Schema.optionalWith(BooleanSetting, { default: () => false }),
  host: Schema.optionalWith(Schema.NonEmptyTrimmedString, { default: () => "127.0.0.1" }),
  port: Schema.optionalWith(intBetween(0, 65_535), { default: () => 8080 }),
  /** A request body larger than this is refused (413) before it is read whole. */
  max_body_bytes: Schema.optionalWith(intBetween(2, 128 * 1024 * 1024), { default: () => 262_144 }),
  /** How long the gateway waits for a reply; a caller may ask for less (header X-Beds-Timeout-Ms). Also the request's deadline. */
  request_timeout_ms: Schema.optionalWith(intBetween(1, 600_000), { default: () => 10_000 }),
  /** The producer key (one of trust.keys) the gateway signs requests with; unset: unsigned (only nodes that take unsigned requests run them). */
  signing_key: Schema.optional(Id),
  /** Serve /openapi.json and the interactive docs page /docs. */
  docs: Schema.optionalWith(BooleanSetting, { default: () => true }),
  api_keys: Schema.optionalWith(Schema.Record({ key: Id, value: ApiKey }), { default: () => ({}) }),
  jwt: Schema.optional(Jwt)
})
export type GatewaySettings = typeof GatewaySection.Type

export const defaultGateway: GatewaySettings = {
  enabled: false,
  host: "127.0.0.1",
  port: 8080,
  max_body_bytes: 262_144,
  request_timeout_ms: 10_000,
  docs: true,
  api_keys: {}
}
