import type { Tracer } from "@opentelemetry/api"
import { Cause, Exit, ManagedRuntime, Redacted } from "effect"
import type { Environment } from "../config/schema.js"
import type { Reply } from "../protocol/envelope.js"
import { BedsClient, BedsClientLive, type RequestOptions } from "./client.js"

/** For callers without Effect: plain options in, Promises out. */
export interface BedsClientPromiseOptions {
  readonly host?: string
  readonly port?: number
  readonly vhost?: string
  readonly username: string
  readonly password: string
  /** Names the caller in event ids: `{clientId}.{env}.{uuid}`. */
  readonly clientId: string
  readonly env?: Environment
  /** Default per-request timeout (default 10 s). */
  readonly timeoutMs?: number
  /** Traces each request with this OpenTelemetry tracer (a producer span; the request carries its context). */
  readonly tracer?: Tracer
  /** Signs each request with this producer key (docs/protocol.md, Trust); unset: unsigned requests. */
  readonly signing?: { readonly keyId: string; readonly secret: string }
}

export interface BedsClientPromise {
  /** Resolves with the reply (ok or error); rejects with ClientTimeout, ClientDisconnected, ... */
  readonly request: (options: RequestOptions) => Promise<Reply>
  readonly close: () => Promise<void>
}

export const connectBedsClient = async (options: BedsClientPromiseOptions): Promise<BedsClientPromise> => {
  const timeoutMs = options.timeoutMs ?? 10_000
  const runtime = ManagedRuntime.make(BedsClientLive({
    rabbitmq: {
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 5672,
      vhost: options.vhost ?? "/",
      username: options.username,
      password: Redacted.make(options.password),
      heartbeat_s: 30,
      queue_type: "classic",
      reconnect_base_delay_ms: 100,
      reconnect_max_delay_ms: 5_000
    },
    clientId: options.clientId,
    env: options.env ?? "dev",
    defaultTimeoutMs: timeoutMs,
    ...(options.tracer === undefined ? {} : { tracer: options.tracer }),
    ...(options.signing === undefined ? {} : { signing: { keyId: options.signing.keyId, secret: Redacted.make(options.signing.secret) } })
  }))
  const client = await runtime.runPromise(BedsClient)
  return {
    // The callback core directly: no Effect run per request.
    request: (request) =>
      new Promise((resolve, reject) => {
        client.send(request, (exit) => Exit.isSuccess(exit) ? resolve(exit.value) : reject(Cause.squash(exit.cause)))
      }),
    close: () => runtime.dispose()
  }
}

export type { RequestOptions, Reply }
