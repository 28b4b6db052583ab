import { Context, Layer } from "effect"
import type { BedsConfig } from "./schema.js"

export interface TrustSettings {
  readonly trust: BedsConfig["trust"]
  readonly limits: BedsConfig["limits"]
}

/** No keys, callers accepted unsigned (with no identity), default limits: what an in-process test or tool runs with. */
export const anonymousTrust: TrustSettings = {
  trust: { anonymous: true, anonymous_in: ["dev"], max_clock_skew_s: 300, keys: {}, node_keys: {} },
  limits: { max_message_bytes: 1024 * 1024, requests_per_s: 0, burst: 100 }
}

/**
 * Whom the node trusts and how much it takes (config `[trust]` and `[limits]`), for the message path.
 * A running node always provides its config's (roles/node-layer.ts; a prod config refuses anonymous
 * callers at load); the default serves in-process tests that build broker pools by hand.
 */
export class Trust extends Context.Reference<Trust>()("beds/Trust", { defaultValue: () => anonymousTrust }) {
  static readonly layer = (config: BedsConfig) => Layer.succeed(Trust, { trust: config.trust, limits: config.limits })
}
