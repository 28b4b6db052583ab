import { Context, Effect, Either, Layer, Stream } from "effect"
import { decodeToWorker, type FromWorker, type ToWorker } from "./worker-ipc.js"

/**
 * A worker process's side of the IPC channel to its primary (node:child_process). Messages are
 * decoded here, at the edge; `gone` completes when the channel closes, which is how a worker learns
 * that its primary died without telling it (it then drains and exits, never outliving the node).
 */
export class ParentChannel extends Context.Tag("beds/ParentChannel")<ParentChannel, {
  readonly messages: Stream.Stream<ToWorker | Undecodable>
  /** Sends to the primary; a closed channel drops it (the primary is gone, nobody waits for it). */
  readonly send: (message: FromWorker) => Effect.Effect<void>
  readonly gone: Effect.Effect<void>
}>() {}

/** A message that did not decode: the worker logs it and drops it. */
export interface Undecodable {
  readonly _tag: "Undecodable"
  readonly reason: string
}

export const ParentChannelLive = Layer.sync(ParentChannel, () =>
  ParentChannel.of({
    messages: Stream.async<ToWorker | Undecodable>((emit) => {
      const onMessage = (raw: unknown) =>
        void emit.single(Either.match(decodeToWorker(raw), {
          onLeft: (error): Undecodable => ({ _tag: "Undecodable", reason: error.message }),
          onRight: (message) => message
        }))
      process.on("message", onMessage)
      return Effect.sync(() => void process.off("message", onMessage))
    }),
    send: (message) =>
      Effect.sync(() => {
        if (process.send === undefined || !process.connected) return
        process.send(message, undefined, {}, () => undefined)
      }),
    gone: Effect.async<void>((resume) => {
      if (!process.connected) return resume(Effect.void)
      const onDisconnect = () => resume(Effect.void)
      process.once("disconnect", onDisconnect)
      return Effect.sync(() => void process.off("disconnect", onDisconnect))
    })
  }))
