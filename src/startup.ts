import { Config, Effect, Either, Schema } from "effect"
import { fileURLToPath } from "node:url"
import { ConfigError } from "./config/load.js"
import { Environment } from "./config/schema.js"

/** The command line: `node dist/main.js [--check]`. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", { message: Schema.String }) {}

export const usage = "usage: node dist/main.js [--check]   (--check runs the boot checks only and exits 0 or 1)"

const Arguments = Schema.Array(Schema.Literal("--check", "--help"))

export interface StartupOptions {
  /** Run the IPL and exit 0 (every step ok) or 1, instead of serving. */
  readonly check: boolean
  readonly help: boolean
}

export const parseArguments = (argv: ReadonlyArray<string>) =>
  Schema.decodeUnknownEither(Arguments)(argv).pipe(
    Either.map((flags): StartupOptions => ({ check: flags.includes("--check"), help: flags.includes("--help") })),
    Either.mapLeft(() => {
      const unknown = argv.find((arg) => arg !== "--check" && arg !== "--help")
      return new UsageError({ message: `unknown argument ${JSON.stringify(unknown)}; ${usage}` })
    })
  )

/** config/ beside the build (dist/ or src/), so the node finds its files from any working directory. */
const defaultConfigDirectory = fileURLToPath(new URL("../config", import.meta.url))
/** templates/ and schema/ beside the build, used when config names no other. */
export const defaultTemplatesDirectory = fileURLToPath(new URL("../templates", import.meta.url))
export const defaultSchemaDirectory = fileURLToPath(new URL("../schema", import.meta.url))

/** The two variables that steer loading itself: which env file to layer, and where the files are. */
export const startupSettings = Effect.gen(function*() {
  const rawEnv = yield* Config.string("BEDS_ENV").pipe(Config.withDefault("dev"))
  const env = yield* Schema.decodeUnknown(Environment)(rawEnv).pipe(
    Effect.mapError(() =>
      new ConfigError({ message: `environment variable BEDS_ENV: expected dev | qa | prod, found ${JSON.stringify(rawEnv)}` })
    )
  )
  const directory = yield* Config.string("BEDS_CONFIG_DIR").pipe(Config.withDefault(defaultConfigDirectory))
  return { env, directory }
}).pipe(
  // Effect's Config can fail only when the environment cannot be read at all.
  Effect.mapError((error) => error instanceof ConfigError ? error : new ConfigError({ message: `environment: ${String(error)}` }))
)
