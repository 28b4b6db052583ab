import type { ConsumeMessage } from "amqplib"
import { Cause, Effect, Exit } from "effect"
import type { Lineage } from "../protocol/envelope.js"
import type { Handled } from "./entry.js"
import type { Accepted, Refused } from "./ingress.js"
import type { Observation, Observer } from "./observe.js"
import { cutShortByDeadline, outcomeOfExit } from "./operation.js"
import type { Outcome } from "./policy.js"
import { rejectOnOpenChannel, type BrokerChannels, type Settled } from "./reply.js"

type Settle = (
  channels: BrokerChannels,
  message: ConsumeMessage,
  ingress: Accepted | Refused,
  outcome: Outcome,
  traceHeaders: Record<string, string> | undefined,
  done: (settled: Settled, outcome: Outcome) => void
) => void

export interface DeliveryHooks {
  /** Runs a message's operation in a fiber of the broker (its runtime; interrupted at its end). */
  readonly fork: (effect: Effect.Effect<void>) => void
  /**
   * Called once per delivery settled, with how it ended, the outcome it was settled with and the
   * request's lineage (when it had a readable one), so what is logged about it is its child event.
   */
  readonly ended: (message: ConsumeMessage, settled: Settled, outcome: Outcome, lineage: Lineage | undefined) => void
}

/**
 * What a broker does with each delivery: the entry gives the outcome, or the operation that gives
 * it (run in a fiber); the settler replies and acks; `ended` hears how, and the observer records
 * the delivery's metrics and traces. Nothing here throws into amqplib's consume callback: a throw
 * while settling rejects the message on an open channel (so it cannot loop) and is reported as a
 * defect, and the message still ends exactly once.
 */
export const makeDeliveryHandler = (
  entry: (message: ConsumeMessage) => Handled,
  settle: Settle,
  channels: BrokerChannels,
  observer: Observer,
  hooks: DeliveryHooks
) => {
  const settleOnce = (message: ConsumeMessage, observation: Observation, ingress: Accepted | Refused, outcome: Outcome, now: boolean) => {
    let ended = false
    const end = (settled: Settled, final: Outcome) => {
      ended = true
      observer.end(observation, ingress, final, settled, now)
      hooks.ended(message, settled, final, ingress._tag === "Accepted" ? ingress.request.lineage : ingress.lineage)
    }
    try {
      settle(channels, message, ingress, outcome, observer.replyHeaders(observation, ingress), end)
    } catch (thrown) {
      if (!ended) end(rejectOnOpenChannel(channels, message, thrown), { _tag: "Defect", reference: "settling", cause: Cause.die(thrown) })
    }
  }
  return (message: ConsumeMessage): void => {
    const observation = observer.begin(message)
    const handled = entry(message)
    if (handled._tag === "Now") return settleOnce(message, observation, handled.ingress, handled.outcome, true)
    // Settled when the fiber ends, whatever ends it: a read cut short at its deadline interrupts
    // this fiber (operation.ts) and is answered deadline_exceeded. Interrupted by anything else
    // (the broker stopping past its drain timeout), it settles nothing: its channel closes with
    // the broker and RabbitMQ delivers the message again.
    hooks.fork(Effect.asVoid(Effect.exit(Effect.onExit(observer.around(observation, handled.ingress, handled.operation), (exit) =>
      Effect.sync(() => {
        if (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause) && !cutShortByDeadline(exit)) return
        settleOnce(message, observation, handled.ingress, outcomeOfExit(exit, handled.reference), false)
      })))))
  }
}
