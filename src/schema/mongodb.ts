import { FileSystem, Path } from "@effect/platform"
import { Effect, Schema } from "effect"
import { SchemaFileInvalid } from "./errors.js"
import type { IndexDescription } from "mongodb"
import { connectMongo, type MongoDbConfig } from "../adapters/mongodb/client.js"
import { Identifier } from "../protocol/envelope.js"

/** A collection declaration: its indexes (the DBA's) and, optionally, a $jsonSchema validator. */
const CollectionFile = Schema.parseJson(Schema.Struct({
  collection: Identifier,
  indexes: Schema.Array(Schema.Struct({
    key: Schema.Record({ key: Schema.String, value: Schema.Union(Schema.Literal(1, -1), Schema.String) }),
    name: Identifier,
    unique: Schema.optional(Schema.Boolean),
    /** A TTL index: documents go this many seconds after the date in the indexed field. */
    expireAfterSeconds: Schema.optional(Schema.Int.pipe(Schema.nonNegative()))
  })).pipe(Schema.minItems(1)),
  validator: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
}))

export interface MongoApplied {
  readonly collection: string
  readonly indexes: ReadonlyArray<string>
  /** Set when the server refused the validator (jongodb has no collMod); real MongoDB applies it. */
  readonly validatorNotApplied?: string
}

/**
 * Creates each declared collection's indexes (creating the collection; idempotent) and applies its
 * validator with collMod. Pipelines (pipelines/*.json) are read by the adapter, not applied.
 */
export const applyMongoDbSchema = (config: MongoDbConfig, directories: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const client = yield* connectMongo(config, { appName: "beds schema apply", timeoutMs: 10_000 })
    const db = client.db(config.database)
    const results: Array<MongoApplied> = []
    const files: Array<string> = []
    for (const directory of directories) {
      if (!(yield* fs.exists(directory))) continue
      for (const name of (yield* fs.readDirectory(directory)).filter((n) => n.endsWith(".json")).sort()) files.push(path.join(directory, name))
    }
    for (const file of files) {
      const declared = yield* Schema.decodeUnknown(CollectionFile)(yield* fs.readFileString(file)).pipe(
        Effect.mapError((error) => new SchemaFileInvalid({ message: `${file}: ${error.message.split("\n")[0]}` }))
      )
      const indexes = yield* Effect.tryPromise(() =>
        db.collection(declared.collection).createIndexes(declared.indexes.map((index) => ({ ...index })) as Array<IndexDescription>)
      )
      let validatorNotApplied: string | undefined
      if (declared.validator !== undefined) {
        validatorNotApplied = yield* Effect.tryPromise(() =>
          db.command({ collMod: declared.collection, validator: declared.validator, validationLevel: "strict" })
        ).pipe(Effect.as(undefined), Effect.catchAll((error) => Effect.succeed(String((error.error as Error).message ?? error.error))))
      }
      results.push({ collection: declared.collection, indexes, ...(validatorNotApplied === undefined ? {} : { validatorNotApplied }) })
    }
    return results
  }).pipe(Effect.scoped)
