import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import { openMariaDb } from "../adapters/mariadb/client.js"
import type { MariaDbEndpoint } from "../config/schema.js"

/**
 * Applies every `*.sql` file of each directory (BEDS's own objects first, then the DBA's), in name
 * order, each as one multi-statement batch (the server parses procedure bodies, so no DELIMITER
 * lines). The files must be idempotent (CREATE ... IF NOT EXISTS, CREATE OR REPLACE). A directory
 * that does not exist has nothing to apply.
 */
export const applyMariaDbSchema = (endpoint: MariaDbEndpoint, directories: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const { sql } = yield* openMariaDb(endpoint, { maxConnections: 1, connectTimeoutMs: 10_000 })
    const applied: Array<string> = []
    for (const directory of directories) {
      if (!(yield* fs.exists(directory))) continue
      for (const name of (yield* fs.readDirectory(directory)).filter((file) => file.endsWith(".sql")).sort()) {
        // Unprepared (the text protocol): a file is several statements, which a prepared statement cannot be.
        yield* sql.unsafe(yield* fs.readFileString(path.join(directory, name))).unprepared
        applied.push(name)
      }
    }
    return applied
  }).pipe(Effect.scoped)
