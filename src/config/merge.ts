/** A TOML table, or the tree built from BEDS_* variables: keys to values, tables nested. */
export type ConfigTable = { [key: string]: unknown }

/** One layer of config and where it came from (a file path or an environment variable name). */
export interface ConfigLayer {
  readonly source: string
  readonly table: ConfigTable
}

export interface MergedConfig {
  readonly table: ConfigTable
  /** Dotted key path -> the source that last set it, for error messages. */
  readonly provenance: ReadonlyMap<string, string>
}

export const isTable = (value: unknown): value is ConfigTable => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

export const keyPath = (path: ReadonlyArray<PropertyKey>): string => path.map(String).join(".")

/**
 * Layers are applied in order: tables merge key by key, so a later layer overrides only what it
 * names and the rest is inherited; any other value (scalar or array) replaces what was there.
 */
export const mergeLayers = (layers: ReadonlyArray<ConfigLayer>): MergedConfig => {
  const provenance = new Map<string, string>()
  const apply = (target: ConfigTable, source: ConfigTable, path: ReadonlyArray<string>, from: string) => {
    for (const [key, value] of Object.entries(source)) {
      const childPath = [...path, key]
      provenance.set(keyPath(childPath), from)
      const existing = target[key]
      if (isTable(value)) {
        const merged: ConfigTable = isTable(existing) ? existing : {}
        target[key] = merged
        apply(merged, value, childPath, from)
      } else {
        target[key] = value
      }
    }
  }
  const table: ConfigTable = {}
  for (const layer of layers) apply(table, structuredCloneTable(layer.table), [], layer.source)
  return { table, provenance }
}

/** The source that set `path` or its nearest enclosing table, if any layer did. */
export const sourceOf = (merged: MergedConfig, path: ReadonlyArray<PropertyKey>): string | undefined => {
  for (let end = path.length; end > 0; end--) {
    const found = merged.provenance.get(keyPath(path.slice(0, end)))
    if (found !== undefined) return found
  }
  return undefined
}

// Layers are never mutated by the merge: nested tables are copied before they are merged into.
const structuredCloneTable = (table: ConfigTable): ConfigTable => {
  const copy: ConfigTable = {}
  for (const [key, value] of Object.entries(table)) copy[key] = isTable(value) ? structuredCloneTable(value) : value
  return copy
}
