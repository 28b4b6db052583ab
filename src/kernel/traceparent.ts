/**
 * A W3C `traceparent` header (version-traceid-parentid-flags, lower-case hex); an invalid value is
 * ignored, as the spec asks. Here so that both the protocol and telemetry can read one.
 */
export const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/
