import { isTable, type ConfigLayer, type ConfigTable } from "./merge.js"

export const ENV_PREFIX = "BEDS_"
/** Path segments in a variable name are separated by a double underscore. */
export const ENV_PATH_SEPARATOR = "__"
/** Variables that steer loading itself rather than naming a config key. */
export const RESERVED_VARIABLES: ReadonlySet<string> = new Set(["BEDS_ENV", "BEDS_CONFIG_DIR"])

/**
 * Turns `BEDS_MARIADB__MASTER__PASSWORD=x` into a layer `{ mariadb: { master: { password: "x" } } }`.
 * Each segment matches an existing key case-insensitively (so `BEDS_BROKERS__RBROKER__INSTANCES`
 * reaches `brokers.rBroker.instances`); a segment with no match is lower-cased, and the Schema then
 * refuses it as an unknown key. Values stay strings; numeric settings accept numeric strings.
 * One layer per variable, applied in name order, so the result never depends on the order of `env`.
 */
export const environmentLayers = (
  env: Readonly<Record<string, string | undefined>>,
  fileTable: ConfigTable
): ReadonlyArray<ConfigLayer> =>
  Object.keys(env)
    .filter((name) => name.startsWith(ENV_PREFIX) && !RESERVED_VARIABLES.has(name) && env[name] !== undefined)
    .sort()
    .map((name) => {
      const segments = name.slice(ENV_PREFIX.length).split(ENV_PATH_SEPARATOR)
      return { source: `environment variable ${name}`, table: nest(segments, env[name] as string, fileTable) }
    })

const nest = (segments: ReadonlyArray<string>, value: string, existing: unknown): ConfigTable => {
  const [head, ...rest] = segments
  const scope = isTable(existing) ? existing : {}
  const key = Object.keys(scope).find((k) => k.toLowerCase() === head!.toLowerCase()) ?? head!.toLowerCase()
  return { [key]: rest.length === 0 ? value : nest(rest, value, scope[key]) }
}

/** The variable that would set a dotted key path, for hints in error messages. */
export const variableFor = (path: ReadonlyArray<PropertyKey>): string =>
  ENV_PREFIX + path.map((segment) => String(segment).toUpperCase()).join(ENV_PATH_SEPARATOR)
