import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import { openMariaDbPool } from "../adapters/mariadb/client.js"
import type { MariaDbEndpoint } from "../config/schema.js"

/**
 * Applies every `*.sql` file of a directory, in name order, each as one multi-statement batch (the
 * server parses procedure bodies, so no DELIMITER lines). The files are the DBA's; they must be
 * idempotent (CREATE ... IF NOT EXISTS, CREATE OR REPLACE).
 */
export const applyMariaDbSchema = (endpoint: MariaDbEndpoint, directory: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const client = yield* openMariaDbPool(endpoint, { maxConnections: 1, connectTimeoutMs: 10_000, multipleStatements: true })
    const files = (yield* fs.readDirectory(directory)).filter((name) => name.endsWith(".sql")).sort()
    for (const name of files) {
      const text = yield* fs.readFileString(path.join(directory, name))
      yield* client.script(text)
    }
    return files
  }).pipe(Effect.scoped)
