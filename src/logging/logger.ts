import { Cause, HashMap, Inspectable, Layer, Logger, LogLevel, Option } from "effect"
import type { BedsConfig } from "../config/schema.js"

export type LogFormat = "json" | "pretty"

/** auto means JSON lines in prod (for collectors) and readable lines in dev and qa (for people). */
export const logFormatFor = (config: Pick<BedsConfig, "env" | "logging">): LogFormat =>
  config.logging.format === "auto" ? (config.env === "prod" ? "json" : "pretty") : config.logging.format

const levels: Record<BedsConfig["logging"]["level"], LogLevel.LogLevel> = {
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None
}

const identityKeys: ReadonlyArray<string> = ["node", "env", "role"]

/** Readable one-line-per-entry output: time, level, node/env/role, message, then annotations. */
const readableLogger = Logger.make<unknown, string>(({ annotations, cause, date, logLevel, message }) => {
  const identity = identityKeys.map((key) => render(Option.getOrElse(HashMap.get(annotations, key), () => "-")))
  const extra = HashMap.toEntries(annotations)
    .filter(([key]) => !identityKeys.includes(key))
    .map(([key, value]) => `${key}=${render(value)}`)
  const text = (Array.isArray(message) ? message : [message]).map(render).join(" ")
  const line = [date.toISOString(), logLevel.label.padEnd(5), identity.join("/"), text, ...extra].join(" ")
  return Cause.isEmpty(cause) ? line : `${line}\n${Cause.pretty(cause, { renderErrorCause: true })}`
})

const render = (value: unknown): string =>
  typeof value === "string" ? value : JSON.stringify(Inspectable.toJSON(value)) ?? String(value)

/**
 * Replaces Effect's default logger: every line carries the node id, env and role, so lines from
 * many nodes (and a node's worker processes) can be mixed in one collector and still be told apart.
 */
export const LoggingLive = (config: Pick<BedsConfig, "env" | "logging"> & { readonly node: Pick<BedsConfig["node"], "id" | "role"> }, worker?: number) => {
  // A worker process of a multi-process node also names itself: `worker=2`.
  const identity = { node: config.node.id, env: config.env, role: config.node.role, ...(worker === undefined ? {} : { worker }) }
  const base = logFormatFor(config) === "json" ? Logger.jsonLogger : readableLogger
  // Lines written inside a span carry its traceId and spanId (log lines and traces side by side).
  const logger = Logger.mapInputOptions(Logger.withSpanAnnotations(base), (options) => ({
    ...options,
    annotations: HashMap.union(HashMap.fromIterable(Object.entries(identity)), options.annotations)
  }))
  return Layer.merge(
    Logger.replace(Logger.defaultLogger, Logger.withConsoleLog(logger)),
    Logger.minimumLogLevel(levels[config.logging.level])
  )
}
