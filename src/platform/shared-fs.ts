import { FileSystem, Path } from "@effect/platform"
import { Effect } from "effect"
import { ServiceUnavailable } from "../kernel/errors.js"

/**
 * The shared directory exists and this node can create and remove a file in it. It is not created
 * here: a missing mount is a deployment fault that creating an empty local directory would hide.
 */
export const probeSharedFs = (directory: string, options: { readonly nodeId: string }) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const target = path.resolve(directory)
    const unavailable = (reason: string) => new ServiceUnavailable({ target, reason })
    const info = yield* fs.stat(target).pipe(Effect.mapError((error) => unavailable(error.message)))
    if (info.type !== "Directory") return yield* unavailable("not a directory")
    const probe = path.join(target, `.beds-ipl-${options.nodeId}-${process.pid}`)
    yield* fs.writeFileString(probe, new Date().toISOString()).pipe(
      Effect.mapError((error) => unavailable(`not writable: ${error.message}`))
    )
    yield* fs.remove(probe).pipe(Effect.mapError((error) => unavailable(`cannot remove probe file: ${error.message}`)))
  })
