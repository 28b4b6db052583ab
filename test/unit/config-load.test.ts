import { FileSystem, Path } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, FastCheck as fc, Redacted } from "effect"
import { readFileSync } from "node:fs"
import { parse, stringify } from "smol-toml"
import { isTable, type ConfigTable } from "../../src/config/merge.js"
import { loadConfig, type ConfigSource } from "../../src/config/load.js"
import { repoRoot } from "../support/node-process.js"

/** The checked-in beds.toml plus the two values it leaves to the environment: a valid config. */
const shippedBase = (): ConfigTable => {
  const base = parse(readFileSync(`${repoRoot}/config/beds.toml`, "utf8")) as ConfigTable
  return {
    ...base,
    rabbitmq: { ...(base["rabbitmq"] as ConfigTable), password: "guest" },
    mongodb: { ...(base["mongodb"] as ConfigTable), uri: "mongodb://127.0.0.1:27017" }
  }
}

/** Writes the files into a fresh temp directory and loads them with `variables`. */
const loadFrom = (files: Record<string, ConfigTable | string>, variables: ConfigSource["variables"] = {}, env: ConfigSource["env"] = "dev") =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const directory = yield* fs.makeTempDirectoryScoped({ prefix: "beds-config-test-" })
    for (const [name, content] of Object.entries(files)) {
      yield* fs.writeFileString(path.join(directory, name), typeof content === "string" ? content : stringify(content))
    }
    const result = yield* Effect.either(loadConfig({ directory, env, variables }))
    return { directory, result }
  }).pipe(Effect.scoped)

const leafPaths = (t: ConfigTable, prefix: ReadonlyArray<string> = []): Array<ReadonlyArray<string>> =>
  Object.entries(t).flatMap(([k, v]) => isTable(v) ? leafPaths(v, [...prefix, k]) : [[...prefix, k]])
const setAt = (t: ConfigTable, path: ReadonlyArray<string>, value: unknown): ConfigTable => {
  const [head, ...rest] = path
  return { ...t, [head!]: rest.length === 0 ? value : setAt((t[head!] ?? {}) as ConfigTable, rest, value) }
}
const tablePaths = (t: ConfigTable, prefix: ReadonlyArray<string> = []): Array<ReadonlyArray<string>> => [
  prefix,
  ...Object.entries(t).flatMap(([k, v]) => isTable(v) ? tablePaths(v, [...prefix, k]) : [])
]

layer(NodeContext.layer)("loadConfig", (it) => {
  it.effect("decodes the shipped beds.toml with an env file and variables layered over it", () =>
    Effect.gen(function*() {
      const { result } = yield* loadFrom(
        { "beds.toml": shippedBase(), "env_qa.toml": { config_version: 1, node: { id: "qa7" }, rabbitmq: { port: 5673 } } },
        { BEDS_RABBITMQ__PASSWORD: "from-env", BEDS_BROKERS__WBROKER__INSTANCES: "9", BEDS_ENV: "ignored" },
        "qa"
      )
      const config = result.pipe((r) => (r._tag === "Right" ? r.right : expect.unreachable(r.left.message)))
      expect(config.env).toBe("qa")
      expect(config.node).toStrictEqual({ id: "qa7", role: "appServer", workers: 1 })
      expect(config.rabbitmq.port).toBe(5673)
      expect(Redacted.value(config.rabbitmq.password)).toBe("from-env")
      expect(config.brokers.wBroker.instances).toBe(9)
      expect(config.brokers.rBroker).toStrictEqual({ instances: 4, prefetch: 32, routes: ["read"] })
      expect(config.mariadb.secondary).toBeUndefined()
      expect(config.sources.at(-1)).toBe("environment variable BEDS_RABBITMQ__PASSWORD")
      // Secrets print as <redacted> wherever the config is shown.
      expect(JSON.stringify(config)).not.toContain("from-env")
      expect(String(config.rabbitmq.password)).toBe("<redacted>")
    }))

  it.effect.prop(
    "a wrong value at any key is refused with its file, key path, what was expected and what was found",
    { pick: fc.nat(), bad: fc.oneof(fc.boolean(), fc.array(fc.integer(), { minLength: 1, maxLength: 3 }), fc.constant({ nested: 1 })) },
    ({ bad, pick }) =>
      Effect.gen(function*() {
        const base = shippedBase()
        // Scalar settings (lists such as brokers.*.routes fail at an element, tested elsewhere); a
        // boolean is wrong everywhere but at the boolean settings (tracing.enabled).
        const valueAt = (p: ReadonlyArray<string>) => p.reduce<any>((t, k) => t[k], base)
        const paths = leafPaths(base).filter((p) => !Array.isArray(valueAt(p)) && !(typeof bad === "boolean" && typeof valueAt(p) === "boolean"))
        const target = paths[pick % paths.length]!
        // No other scalar setting in BEDS takes a boolean, an array or a table.
        const { directory, result } = yield* loadFrom({ "beds.toml": setAt(base, target, bad) })
        expect(result._tag).toBe("Left")
        const message = result._tag === "Left" ? result.left.message : ""
        expect(message).toContain(`${directory}/beds.toml: ${target.join(".")}: expected `)
        expect(message).toMatch(/, found (true|false|an array|a table|a value \(not shown: secret\))$/)
      }),
    { fastCheck: { numRuns: 60 } }
  )

  it.effect.prop(
    "a wrong string in a numeric setting, given by a variable, names the variable and the key",
    { pick: fc.nat(), word: fc.stringMatching(/^[a-z]{1,8}$/) },
    ({ pick, word }) =>
      Effect.gen(function*() {
        const base = shippedBase()
        const numeric = leafPaths(base).filter((p) => p[0] !== "config_version" && typeof p.reduce<any>((t, k) => t[k], base) === "number")
        const target = numeric[pick % numeric.length]!
        const variable = `BEDS_${target.map((s) => s.toUpperCase()).join("__")}`
        const { result } = yield* loadFrom({ "beds.toml": base }, { [variable]: word })
        // Every numeric setting is an integer but the sampling ratio, a number, and the worker count, which may be "auto".
        const expected = target.at(-1) === "sample_ratio" ? "number" : target.at(-1) === "workers" ? `"auto" or an integer from 1 to 1024` : "integer"
        expect(result._tag === "Left" && result.left.message).toBe(
          `environment variable ${variable}: ${target.join(".")}: expected ${expected}, found "${word}"`
        )
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect.prop(
    "an unknown key anywhere is refused with its full key path",
    { pick: fc.nat(), name: fc.stringMatching(/^zz[a-z_]{1,10}$/) },
    ({ name, pick }) =>
      Effect.gen(function*() {
        const base = shippedBase()
        const tables = tablePaths(base)
        const where = tables[pick % tables.length]!
        const { directory, result } = yield* loadFrom({ "beds.toml": base, "env_dev.toml": setAt({ config_version: 1 }, [...where, name], 1) })
        expect(result._tag === "Left" && result.left.message).toBe(
          `${directory}/env_dev.toml: ${[...where, name].join(".")}: unknown key (found 1)`
        )
      }),
    { fastCheck: { numRuns: 40 } }
  )

  it.effect("a missing value names the key, what it should be, and where it can be set", () =>
    Effect.gen(function*() {
      const base = shippedBase()
      const { directory, result } = yield* loadFrom({ "beds.toml": { ...base, rabbitmq: { ...(base["rabbitmq"] as ConfigTable), password: undefined } } })
      expect(result._tag === "Left" && result.left.message).toBe(
        `rabbitmq.password: missing, expected string; set it in ${directory}/beds.toml, ${directory}/env_dev.toml ` +
          "or BEDS_RABBITMQ__PASSWORD"
      )
    }))

  it.effect("a secret of the wrong type is refused without echoing it", () =>
    Effect.gen(function*() {
      const base = shippedBase()
      const { result } = yield* loadFrom({ "beds.toml": setAt(base, ["rabbitmq", "password"], 918273645) })
      const message = result._tag === "Left" ? result.left.message : ""
      expect(message).toMatch(/rabbitmq\.password: expected string, found a value \(not shown: secret\)$/)
      expect(message).not.toContain("918273645")
    }))

  it.effect("a value outside its range names the range", () =>
    Effect.gen(function*() {
      const { directory, result } = yield* loadFrom({ "beds.toml": setAt(shippedBase(), ["rabbitmq", "port"], 70000) })
      expect(result._tag === "Left" && result.left.message).toBe(
        `${directory}/beds.toml: rabbitmq.port: expected an integer from 1 to 65535, found 70000`
      )
    }))

  it.effect("node.workers: a count or \"auto\", anything else refused with what it takes", () =>
    Effect.gen(function*() {
      for (const [given, decoded] of [[4, 4], ["auto", "auto"], ["3", 3]] as const) {
        const { result } = yield* loadFrom({ "beds.toml": setAt(shippedBase(), ["node", "workers"], given) })
        expect(result._tag === "Right" && result.right.node.workers).toBe(decoded)
      }
      const { node: { workers: _, ...node }, ...rest } = shippedBase() as { node: ConfigTable }
      const unset = yield* loadFrom({ "beds.toml": { ...rest, node } })
      expect(unset.result._tag === "Right" && unset.result.right.node.workers).toBe(1)
      for (const bad of [0, 1025, "all", 2.5]) {
        const { directory, result } = yield* loadFrom({ "beds.toml": setAt(shippedBase(), ["node", "workers"], bad) })
        expect(result._tag === "Left" && result.left.message).toBe(
          `${directory}/beds.toml: node.workers: expected "auto" or an integer from 1 to 1024, found ${JSON.stringify(bad)}`
        )
      }
    }))

  it.effect("a route bound to two broker types is refused: it would deliver a request twice", () =>
    Effect.gen(function*() {
      const { result } = yield* loadFrom({ "beds.toml": setAt(shippedBase(), ["brokers", "sBroker", "routes"], ["session", "read"]) })
      expect(result._tag === "Left" && result.left.message).toMatch(
        /beds\.toml: brokers: expected route "read" is bound to both rBroker and sBroker; a route belongs to one broker type, found a table$/
      )
    }))

  it.effect("[gateway]: its signing key must be a trust key, someone must be able to call it, each key says one thing", () =>
    Effect.gen(function*() {
      const trusted = setAt(shippedBase(), ["trust", "keys"], { gw: { producer: "gateway", secret: "s3cret" } })
      const apiKey = { secret_sha256: "a".repeat(64), roles: ["clerk"] }
      const message = (table: ConfigTable) => loadFrom({ "beds.toml": table }).pipe(Effect.map(({ result }) => result._tag === "Left" ? result.left.message : "loaded"))
      expect(yield* message(setAt(trusted, ["gateway"], { enabled: true, signing_key: "other", api_keys: { a: apiKey } }))).toMatch(
        /gateway\.signing_key: "other" is not one of trust\.keys/
      )
      expect(yield* message(setAt(trusted, ["gateway"], { enabled: true, signing_key: "gw" }))).toMatch(/neither gateway\.api_keys nor gateway\.jwt is set/)
      expect(yield* message(setAt(trusted, ["gateway"], { enabled: true, api_keys: { a: { ...apiKey, secret: "also" } } }))).toMatch(
        /gateway\.api_keys\.a: expected exactly one of secret and secret_sha256/
      )
      expect(yield* message(setAt(trusted, ["gateway"], { enabled: true, jwt: { issuer: "i", audience: "a", keys: { k: { alg: "RS256", secret: "x" } } } })))
        .toMatch(/gateway\.jwt\.keys\.k: expected alg RS256 needs public_key or jwk/)
      const loaded = yield* loadFrom({ "beds.toml": setAt(trusted, ["gateway"], { enabled: true, signing_key: "gw", api_keys: { a: apiKey } }) })
      const config = loaded.result._tag === "Right" ? loaded.result.right : expect.unreachable(loaded.result.left.message)
      expect(config.gateway).toMatchObject({ enabled: true, port: 8080, max_body_bytes: 262_144, signing_key: "gw", api_keys: { a: apiKey } })
    }))

  it.effect("a role that does not exist lists the ones that do", () =>
    Effect.gen(function*() {
      const { directory, result } = yield* loadFrom({ "beds.toml": setAt(shippedBase(), ["node", "role"], "appserver") })
      expect(result._tag === "Left" && result.left.message).toBe(
        `${directory}/beds.toml: node.role: expected "appServer" | "admin" | "segundo" | "tercero", found "appserver"`
      )
    }))

  it.effect("config_version: older and newer files are refused, an override may omit it", () =>
    Effect.gen(function*() {
      const base = shippedBase()
      const older = yield* loadFrom({ "beds.toml": { ...base, config_version: 0 } })
      expect(older.result._tag === "Left" && older.result.left.message).toContain(
        "beds.toml: config_version 0 is older than this build reads (1) and no migration exists for it"
      )
      const newer = yield* loadFrom({ "beds.toml": base, "env_dev.toml": { config_version: 2 } })
      expect(newer.result._tag === "Left" && newer.result.left.message).toContain(
        "env_dev.toml: config_version 2 is newer than this build reads (1)"
      )
      const omitted = yield* loadFrom({ "beds.toml": base, "env_dev.toml": { logging: { level: "debug" } } })
      expect(omitted.result._tag).toBe("Right")
      const { config_version: _, ...withoutVersion } = base
      const unversioned = yield* loadFrom({ "beds.toml": withoutVersion })
      expect(unversioned.result._tag === "Left" && unversioned.result.left.message).toContain(
        "beds.toml: config_version: expected integer 1, found nothing"
      )
    }))

  it.effect("a file that is not TOML is refused with its line and column; a missing base file is named", () =>
    Effect.gen(function*() {
      const broken = yield* loadFrom({ "beds.toml": "config_version = 1\n[node\nid = 1\n" })
      expect(broken.result._tag === "Left" && broken.result.left.message).toMatch(
        new RegExp(`^${broken.directory}/beds.toml:2:\\d+: not valid TOML: `)
      )
      const none = yield* loadFrom({})
      expect(none.result._tag === "Left" && none.result.left.message).toBe(`${none.directory}/beds.toml: cannot read: no such file`)
    }))

  it.effect("refuses keys that could pollute prototypes", () =>
    Effect.gen(function*() {
      const { result } = yield* loadFrom({ "beds.toml": "config_version = 1\n[__proto__]\nrole = \"admin\"\n" })
      expect(result._tag === "Left" && result.left.message).toContain("not valid TOML")
    }))
})

describe("the shipped example env files", () => {
  const prodSecrets = { BEDS_TRUST__KEYS__WEB_2026A__SECRET: "web-secret", BEDS_TRUST__NODE_KEYS__NODES_2026A: "node-secret" }
  it.each(["dev", "qa", "prod"] as const)("env_%s.toml.example layers over beds.toml and decodes", async (env) => {
    const example = parse(readFileSync(`${repoRoot}/config/env_${env}.toml.example`, "utf8")) as ConfigTable
    const outcome = await Effect.runPromise(
      // prod's example names trust keys whose secrets come, as it says, from the environment.
      loadFrom({ "beds.toml": shippedBase(), [`env_${env}.toml`]: example }, env === "prod" ? prodSecrets : {}, env).pipe(Effect.provide(NodeContext.layer))
    )
    expect(outcome.result._tag === "Left" ? outcome.result.left.message : "decoded").toBe("decoded")
  })
})
