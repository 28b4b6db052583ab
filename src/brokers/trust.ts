import type { ConsumeMessage, Message } from "amqplib"
import type { TrustSettings } from "../config/trust.js"
import type { Request } from "../protocol/envelope.js"
import { canonicalReplyTo, isDirectReplyTo } from "../protocol/routing.js"
import { eventSigned, KEY_HEADER, SIGNATURE_HEADER, SIGNED_AT_HEADER, verify } from "../protocol/signature.js"
import { Redacted } from "effect"


/** What the node makes of who sent a request. */
export type Verdict =
  /** Vouched for (or anonymous, when the node allows it): the request as it may run, its caller trusted or removed. */
  | { readonly _tag: "Trusted"; readonly request: Request; readonly keyId: string | undefined }
  | { readonly _tag: "Unauthenticated"; readonly reason: string }
  | { readonly _tag: "Forbidden"; readonly reason: string }
  /** A replyTo the sender may not name: nobody is answered; the request is refused as a bad envelope. */
  | { readonly _tag: "ReplyToRefused"; readonly reason: string }

const header = (message: Pick<ConsumeMessage, "properties">, name: string): unknown => message.properties.headers?.[name]

/**
 * The node's check of a request's producer (docs/protocol.md, Trust): a signature with a key the
 * node knows, over what the request means and where its answer goes, made within the allowed
 * clock skew. A vouched-for request keeps its caller (within the roles its producer may vouch
 * for); an unsigned one is refused, or, where the node allows anonymous callers, runs as nobody (its
 * caller removed: only operations open to "*"). Replies go only to direct reply-to, or to a queue
 * whose name starts with the producer's `reply_prefix`.
 */
export const makeVerifier = (settings: TrustSettings, now: () => number) => {
  const { trust } = settings
  const skewMs = trust.max_clock_skew_s * 1000
  return (message: ConsumeMessage, request: Request, replyTo: string, correlationId: string): Verdict => {
    const keyId = header(message, KEY_HEADER)
    const signedAt = header(message, SIGNED_AT_HEADER)
    const signature = header(message, SIGNATURE_HEADER)
    if (keyId === undefined && signedAt === undefined && signature === undefined) {
      if (!trust.anonymous) return { _tag: "Unauthenticated", reason: "the request is not signed: no producer vouches for its caller" }
      if (!isDirectReplyTo(replyTo)) {
        return { _tag: "ReplyToRefused", reason: `replyTo ${JSON.stringify(replyTo)}: an unsigned request is answered only on direct reply-to` }
      }
      if (request.notify !== undefined) return { _tag: "Forbidden", reason: "an unsigned request may not name a notify queue" }
      const { caller: _ignored, ...anonymous } = request
      return { _tag: "Trusted", request: anonymous, keyId: undefined }
    }
    if (typeof keyId !== "string" || typeof signature !== "string" || typeof signedAt !== "number") {
      return { _tag: "Unauthenticated", reason: `a signature needs the headers ${KEY_HEADER} (text), ${SIGNED_AT_HEADER} (a number) and ${SIGNATURE_HEADER} (text)` }
    }
    const key = trust.keys[keyId]
    if (key === undefined) return { _tag: "Unauthenticated", reason: `unknown key ${JSON.stringify(keyId)}` }
    if (Math.abs(now() - signedAt) > skewMs) {
      return { _tag: "Unauthenticated", reason: `the signature was made more than ${trust.max_clock_skew_s} s from now` }
    }
    const signed = {
      keyId,
      signedAt,
      exchange: message.fields.exchange,
      routingKey: message.fields.routingKey,
      correlationId,
      replyTo: canonicalReplyTo(replyTo),
      body: message.content
    }
    if (!verify(Redacted.value(key.secret), signed, signature)) {
      return { _tag: "Unauthenticated", reason: "the signature does not match the request (altered, or signed with another key)" }
    }
    if (!isDirectReplyTo(replyTo) && (key.reply_prefix === undefined || !replyTo.startsWith(key.reply_prefix))) {
      return { _tag: "ReplyToRefused", reason: `replyTo ${JSON.stringify(replyTo)} is not a queue producer ${key.producer} may name` }
    }
    const roles = key.roles
    const beyond = roles === undefined ? undefined : request.caller?.roles.find((role) => !roles.includes(role))
    if (beyond !== undefined) return { _tag: "Forbidden", reason: `producer ${key.producer} may not vouch for role ${beyond}` }
    if (request.notify !== undefined && (key.reply_prefix === undefined || !request.notify.startsWith(key.reply_prefix))) {
      return { _tag: "Forbidden", reason: `notify queue ${JSON.stringify(request.notify)} is not a queue producer ${key.producer} may name` }
    }
    return { _tag: "Trusted", request, keyId }
  }
}

/**
 * Requests per second per caller (its producer key and caller id) and route: a token bucket each,
 * refilled at `requests_per_s`, holding at most `burst`. Off when the rate is 0.
 */
export const makeRateLimiter = (settings: TrustSettings, now: () => number) => {
  // One limiter per node (per settings), shared by every broker instance of every pool: a caller's
  // rate does not multiply with the instances its requests happen to land on.
  const shared = limiters.get(settings)
  if (shared !== undefined) return shared
  const limiter = newRateLimiter(settings, now)
  limiters.set(settings, limiter)
  return limiter
}

type RateLimiter = (keyId: string | undefined, request: Request, route: string) => boolean
const limiters = new WeakMap<TrustSettings, RateLimiter>()

const newRateLimiter = (settings: TrustSettings, now: () => number): RateLimiter => {
  const { burst, requests_per_s: rate } = settings.limits
  const buckets = new Map<string, { tokens: number; at: number }>()
  return (keyId: string | undefined, request: Request, route: string): boolean => {
    if (rate === 0) return true
    const id = `${keyId ?? "-"}\u0000${request.caller?.id ?? "-"}\u0000${route}`
    const time = now()
    const bucket = buckets.get(id) ?? { tokens: burst, at: time }
    bucket.tokens = Math.min(burst, bucket.tokens + ((time - bucket.at) / 1000) * rate)
    bucket.at = time
    if (buckets.size > 100_000) buckets.clear() // bounded: a flood of new callers only resets the buckets
    buckets.set(id, bucket)
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }
}

/**
 * The check of an event on beds.logs (cache invalidation; audit and journal for their consumers):
 * signed by one of the nodes' keys (`trust.node_keys`) within the allowed clock skew. Unsigned
 * events are taken only where no node key is configured and anonymous callers are allowed (dev).
 * Returns why an event is refused, or undefined when it may be applied.
 */
export const makeEventVerifier = (settings: TrustSettings, now: () => number) => {
  const { trust } = settings
  const skewMs = trust.max_clock_skew_s * 1000
  const unsignedTaken = trust.anonymous && Object.keys(trust.node_keys).length === 0
  return (message: Pick<Message, "properties" | "fields" | "content">): string | undefined => {
    const keyId = header(message, KEY_HEADER)
    const signedAt = header(message, SIGNED_AT_HEADER)
    const signature = header(message, SIGNATURE_HEADER)
    if (keyId === undefined && signedAt === undefined && signature === undefined) return unsignedTaken ? undefined : "unsigned"
    if (typeof keyId !== "string" || typeof signature !== "string" || typeof signedAt !== "number") return "malformed signature headers"
    const secret = trust.node_keys[keyId]
    if (secret === undefined) return "unknown key"
    if (Math.abs(now() - signedAt) > skewMs) return "too old"
    const signed = eventSigned(keyId, signedAt, message.fields.exchange, message.fields.routingKey, message.content)
    return verify(Redacted.value(secret), signed, signature) ? undefined : "signature does not match"
  }
}
