import { Config, Effect, Either, Schema } from "effect"
import { defaultConfigDirectory } from "./directories.js"
import { ConfigError } from "./load.js"
import { Environment } from "./schema.js"

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
