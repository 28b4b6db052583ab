import { FileSystem, Path } from "@effect/platform"
import { Effect, Schema } from "effect"
import { parse as parseToml, TomlError } from "smol-toml"
import { environmentLayers, variableFor } from "./env-overlay.js"
import { keyPath, mergeLayers, sourceOf, type ConfigLayer, type ConfigTable } from "./merge.js"
import { firstProblem, showValue } from "../kernel/parse-issue.js"
import { BedsConfigSchema, CURRENT_CONFIG_VERSION, SECRET_KEYS, type BedsConfig, type Environment } from "./schema.js"

/** The node cannot start on this config; `message` is the one line an operator reads. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  message: Schema.String
}) {}

export interface ConfigSource {
  /** Directory holding beds.toml and the env_{env}.toml overrides. */
  readonly directory: string
  readonly env: Environment
  /** BEDS_* variables (others are ignored), layered over the files. */
  readonly variables: Readonly<Record<string, string | undefined>>
}

export const baseFileName = "beds.toml"
export const envFileName = (env: Environment) => `env_${env}.toml`

/** Reads, layers and decodes the config once: beds.toml, then env_{env}.toml, then BEDS_* variables. */
export const loadConfig = Effect.fn("Config.load")(function*(source: ConfigSource) {
  const path = yield* Path.Path
  const basePath = path.join(source.directory, baseFileName)
  const envPath = path.join(source.directory, envFileName(source.env))

  const base = yield* readTomlFile(basePath, true)
  const override = yield* readTomlFile(envPath, false)
  const fileLayers: Array<ConfigLayer> = [{ source: basePath, table: base! }]
  if (override !== undefined) fileLayers.push({ source: envPath, table: override })
  for (const layer of fileLayers) yield* checkVersion(layer, layer.source === basePath)

  const files = mergeLayers(fileLayers)
  const variableLayers = environmentLayers(source.variables, files.table)
  const merged = mergeLayers([...fileLayers, ...variableLayers])

  const decoded = yield* Schema.decodeUnknown(BedsConfigSchema, { onExcessProperty: "error" })(merged.table).pipe(
    Effect.mapError((error) => {
      const problem = firstProblem(error.issue)
      const where = sourceOf(merged, problem.path) ?? basePath
      const key = keyPath(problem.path) || "(top level)"
      switch (problem.kind) {
        case "missing":
          return new ConfigError({
            message: `${key}: missing, expected ${problem.expected}; set it in ${basePath}, ${envPath} ` +
              `or ${variableFor(problem.path)}`
          })
        case "unknown":
          return new ConfigError({ message: `${where}: ${key}: unknown key (found ${showFound(problem.path, problem.found)})` })
        case "invalid":
          return new ConfigError({
            message: `${where}: ${key}: expected ${problem.expected}, found ${showFound(problem.path, problem.found)}`
          })
      }
    })
  )
  // Trust that prod never runs without: every caller vouched for (anonymous_in cannot name prod), every event signed.
  if (source.env === "prod" && decoded.trust.node_key === undefined) {
    return yield* new ConfigError({ message: `trust.node_key: missing in prod (the node signs its events on beds.logs with it); set it in ${envPath} or BEDS_TRUST__NODE_KEY` })
  }
  const gateway = decoded.gateway
  if (gateway.signing_key !== undefined && !(gateway.signing_key in decoded.trust.keys)) {
    return yield* new ConfigError({ message: `gateway.signing_key: "${gateway.signing_key}" is not one of trust.keys (the gateway signs with a producer key the nodes know)` })
  }
  if (gateway.enabled && Object.keys(gateway.api_keys).length === 0 && gateway.jwt === undefined) {
    return yield* new ConfigError({ message: "gateway: enabled, but neither gateway.api_keys nor gateway.jwt is set: nobody could call it" })
  }
  if (source.env === "prod" && gateway.enabled && gateway.signing_key === undefined) {
    return yield* new ConfigError({ message: `gateway.signing_key: missing in prod (nodes run only signed requests); set it in ${envPath} or BEDS_GATEWAY__SIGNING_KEY` })
  }
  return {
    ...decoded,
    trust: { ...decoded.trust, anonymous: decoded.trust.anonymous_in.some((env) => env === source.env) },
    env: source.env,
    sources: [...fileLayers.map((layer) => layer.source), ...variableLayers.map((layer) => layer.source)]
  } satisfies BedsConfig as BedsConfig
})

const readTomlFile = (filePath: string, required: boolean) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const exists = yield* fs.exists(filePath).pipe(Effect.orElseSucceed(() => false))
    if (!exists) {
      if (!required) return undefined
      return yield* new ConfigError({ message: `${filePath}: cannot read: no such file` })
    }
    const text = yield* fs.readFileString(filePath).pipe(
      Effect.mapError((error) => new ConfigError({ message: `${filePath}: cannot read: ${error.message}` }))
    )
    return yield* Effect.try({
      try: (): ConfigTable => parseToml(text, { unsafeKeyBehaviour: "throw" }) as ConfigTable,
      catch: (error) =>
        new ConfigError({
          message: error instanceof TomlError
            ? `${filePath}:${error.line}:${error.column}: not valid TOML: ${error.message.split("\n")[0]}`
            : `${filePath}: not valid TOML: ${String(error)}`
        })
    })
  })

/**
 * Each file says which config format it was written for. The base file must; an override may.
 * No earlier format has shipped, so anything but the current version is refused; when the format
 * changes, a migration from the previous version goes here, applied per file before merging.
 */
const checkVersion = (layer: ConfigLayer, required: boolean) =>
  Effect.gen(function*() {
    const version = layer.table["config_version"]
    if (version === undefined && !required) return
    if (version === CURRENT_CONFIG_VERSION) return
    if (typeof version !== "number" || !Number.isInteger(version)) {
      return yield* new ConfigError({
        message: `${layer.source}: config_version: expected integer ${CURRENT_CONFIG_VERSION}, found ${showFound([], version)}`
      })
    }
    return yield* new ConfigError({
      message: version < CURRENT_CONFIG_VERSION
        ? `${layer.source}: config_version ${version} is older than this build reads (${CURRENT_CONFIG_VERSION}) ` +
          `and no migration exists for it; rewrite the file for version ${CURRENT_CONFIG_VERSION} (see docs/configuration.md)`
        : `${layer.source}: config_version ${version} is newer than this build reads (${CURRENT_CONFIG_VERSION}); ` +
          `run a newer BEDS or rewrite the file for version ${CURRENT_CONFIG_VERSION}`
    })
  })

/** Shows what was found, never a secret's value. */
const showFound = (path: ReadonlyArray<PropertyKey>, found: unknown): string =>
  SECRET_KEYS.has(String(path.at(-1) ?? "")) ? "a value (not shown: secret)" : showValue(found).replace(/^an object$/, "a table")
