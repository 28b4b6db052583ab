import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { environmentLayers } from "../../src/config/env-overlay.js"
import { isTable, mergeLayers, sourceOf, type ConfigTable } from "../../src/config/merge.js"

// A small key space so that random tables overlap often: the interesting cases are collisions.
const key = fc.constantFrom("a", "b", "c", "port", "host")
const leaf = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 8 }),
  fc.boolean(),
  fc.array(fc.integer(), { maxLength: 3 })
)
const { table } = fc.letrec<{ table: ConfigTable; value: unknown }>((tie) => ({
  table: fc.dictionary(key, tie("value"), { maxKeys: 4 }),
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("table"))
}))

type Path = ReadonlyArray<string>
/** Every path that ends at a non-table value, with that value. */
const leaves = (t: ConfigTable, prefix: Path = []): Array<[Path, unknown]> =>
  Object.entries(t).flatMap(([k, v]) => isTable(v) ? leaves(v, [...prefix, k]) : [[[...prefix, k], v] as [Path, unknown]])
const get = (t: unknown, path: Path): unknown =>
  path.reduce<unknown>((node, k) => (isTable(node) ? node[k] : undefined), t)
const has = (t: unknown, path: Path): boolean => {
  let node = t
  for (const k of path) {
    if (!isTable(node) || !(k in node)) return false
    node = node[k]
  }
  return true
}
/** The override replaces what base has at `path` when it holds a non-table at `path` or above it. */
const shadowed = (override: ConfigTable, path: Path): boolean =>
  path.some((_, i) => {
    const prefix = path.slice(0, i + 1)
    return has(override, prefix) && (!isTable(get(override, prefix)) || i === path.length - 1)
  })

describe("mergeLayers", () => {
  it.prop("every value the override sets wins, arrays included (they replace, never concatenate)", [table, table], ([base, override]) => {
    const merged = mergeLayers([{ source: "base", table: base }, { source: "override", table: override }]).table
    for (const [path, value] of leaves(override)) {
      expect(get(merged, path)).toStrictEqual(value)
    }
  })

  it.prop("every value the override does not touch is inherited from the base", [table, table], ([base, override]) => {
    const merged = mergeLayers([{ source: "base", table: base }, { source: "override", table: override }]).table
    for (const [path, value] of leaves(base)) {
      if (!shadowed(override, path)) expect(get(merged, path)).toStrictEqual(value)
    }
  })

  it.prop("the merge invents nothing and changes no layer", [table, table], ([base, override]) => {
    const before = structuredClone([base, override])
    const merged = mergeLayers([{ source: "base", table: base }, { source: "override", table: override }])
    expect([base, override]).toEqual(before)
    for (const [path] of leaves(merged.table)) {
      expect(has(base, path) || has(override, path)).toBe(true)
      // Provenance names the layer that set the value.
      expect(sourceOf(merged, path)).toBe(has(override, path) ? "override" : "base")
    }
  })

  it("an array in the override replaces the base array whole", () => {
    const merged = mergeLayers([
      { source: "base", table: { hosts: ["a", "b", "c"], keep: 1 } },
      { source: "override", table: { hosts: ["z"] } }
    ]).table
    expect(merged).toStrictEqual({ hosts: ["z"], keep: 1 })
  })
})

describe("environmentLayers", () => {
  const segment = fc.constantFrom("a", "b", "c", "port", "host")
  const path = fc.array(segment, { minLength: 1, maxLength: 4 })

  it.prop("BEDS_A__B=v sets a.b to the string v over whatever the files had, the rest inherited", [table, path, fc.string({ maxLength: 8 })], ([files, target, value]) => {
    const variable = `BEDS_${target.map((s) => s.toUpperCase()).join("__")}`
    const layers = environmentLayers({ [variable]: value, HOME: "/root", BEDS_ENV: "qa" }, files)
    expect(layers).toHaveLength(1)
    const merged = mergeLayers([{ source: "file", table: files }, ...layers])
    expect(get(merged.table, target)).toBe(value)
    expect(sourceOf(merged, target)).toBe(`environment variable ${variable}`)
    for (const [leafPath, leafValue] of leaves(files)) {
      // Only leaves on the variable's own line (one path a prefix of the other) can change.
      const diverges = leafPath.some((s, i) => i < target.length && target[i] !== s)
      if (diverges) expect(get(merged.table, leafPath)).toStrictEqual(leafValue)
    }
  })

  it("matches existing keys case-insensitively, so camelCase keys are reachable", () => {
    const files = { brokers: { rBroker: { instances: 4, prefetch: 32 } } }
    const merged = mergeLayers([
      { source: "file", table: files },
      ...environmentLayers({ BEDS_BROKERS__RBROKER__INSTANCES: "8" }, files)
    ]).table
    expect(merged).toStrictEqual({ brokers: { rBroker: { instances: "8", prefetch: 32 } } })
  })

  it("ignores other variables and the ones that steer loading (BEDS_ENV, BEDS_CONFIG_DIR)", () => {
    expect(environmentLayers({ PATH: "/bin", BEDS_ENV: "prod", BEDS_CONFIG_DIR: "/etc/beds", BEDSX: "1" }, {})).toStrictEqual([])
  })

  it("applies variables in name order, whatever the order of the environment", () => {
    const forward = environmentLayers({ BEDS_A: "1", BEDS_A__B: "2" }, {})
    const backward = environmentLayers({ BEDS_A__B: "2", BEDS_A: "1" }, {})
    expect(mergeLayers(forward).table).toStrictEqual(mergeLayers(backward).table)
  })
})
