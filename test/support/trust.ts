import { Layer, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { Trust, type TrustSettings } from "../../src/config/trust.js"
import { EVENTS_EXCHANGE } from "../../src/protocol/routing.js"
import { signatureHeaders } from "../../src/protocol/signature.js"

// The keys of one test run (made fresh per process, never checked in): the tests' producer key,
// which vouches for any role and may name reply queues starting with `replies.`, and the nodes' key
// for events on beds.logs.

export const producerKeyId = "tests_2026"
export const producerSecret = randomBytes(32).toString("base64url")
export const nodeKeyId = "test_nodes"
export const nodeSecret = randomBytes(32).toString("base64url")
/** Reply queues a test names for signed requests start with this. */
export const replyPrefix = "replies."

/** For BedsClient / connectBedsClient: requests signed with the tests' producer key. */
export const signing = { keyId: producerKeyId, secret: Redacted.make(producerSecret) }
export const promiseSigning = { keyId: producerKeyId, secret: producerSecret }

/** The `[trust]` table of an env_{env}.toml that knows these keys and takes no unsigned request. */
export const trustTable = {
  anonymous_in: [],
  keys: { [producerKeyId]: { producer: "tests", secret: producerSecret, reply_prefix: replyPrefix } },
  node_keys: { [nodeKeyId]: nodeSecret },
  node_key: nodeKeyId
}

/** The same trust for a node built in-process. */
export const signedTrust: TrustSettings = {
  trust: {
    anonymous: false,
    anonymous_in: [],
    max_clock_skew_s: 300,
    keys: { [producerKeyId]: { producer: "tests", secret: Redacted.make(producerSecret), reply_prefix: replyPrefix } },
    node_keys: { [nodeKeyId]: Redacted.make(nodeSecret) },
    node_key: nodeKeyId
  },
  limits: { max_message_bytes: 1024 * 1024, requests_per_s: 0, burst: 100 }
}
export const SignedTrust = Layer.succeed(Trust, signedTrust)

/** The signature headers of a request a test publishes by hand on beds.events, signed now with the tests' key. */
export const signedHeaders = (routingKey: string, correlationId: string, replyTo: string, body: Buffer) =>
  signatureHeaders(producerSecret, { keyId: producerKeyId, signedAt: Date.now(), exchange: EVENTS_EXCHANGE, routingKey, correlationId, replyTo, body })
