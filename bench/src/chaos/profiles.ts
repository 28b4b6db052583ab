// How big and how long each fault run is. `full` is `npm run chaos` (the table in
// docs/reliability.md); `short` runs inside `npm test` (test/chaos/chaos.test.ts).

export interface Profile {
  readonly name: "short" | "full"
  /**
   * At least `requests` requests (creates and reads) per fault run, and more while the fault lasts
   * and for `tailMs` after it, up to `maxRequests`: `inFlight` callers, each sending its next request
   * when the last is answered (a closed loop), paced at `ratePerSecond` when one is given.
   */
  readonly requests: number
  readonly maxRequests: number
  readonly inFlight: number
  readonly ratePerSecond: number | undefined
  readonly createShare: number
  readonly tailMs: number
  /** The client's wait for one attempt's reply, and how many attempts a request gets. */
  readonly attemptTimeoutMs: number
  readonly maxAttempts: number
  readonly resendBaseDelayMs: number
  readonly resendMaxDelayMs: number
  /** The fault begins once this many requests have been sent. */
  readonly faultAfterRequests: number
  readonly connectionCloses: number
  readonly connectionCloseSpacingMs: number
  readonly rabbitDownMs: number
  readonly mariadbDownMs: number
  readonly alarmMs: number
  /** Hard ceilings: the load stops sending after `loadLimitMs`; the queues get `drainLimitMs` to empty. */
  readonly loadLimitMs: number
  readonly drainLimitMs: number
}

/** `npm run chaos`: 48 in flight as fast as the machine answers (the measurement of issue 12). */
export const FULL: Profile = {
  name: "full",
  requests: 3_000,
  maxRequests: 60_000,
  inFlight: 48,
  ratePerSecond: undefined,
  createShare: 0.7,
  tailMs: 4_000,
  attemptTimeoutMs: 3_000,
  maxAttempts: 8,
  resendBaseDelayMs: 250,
  resendMaxDelayMs: 2_000,
  faultAfterRequests: 1_000,
  connectionCloses: 4,
  connectionCloseSpacingMs: 3_000,
  rabbitDownMs: 3_000,
  mariadbDownMs: 3_000,
  alarmMs: 5_000,
  loadLimitMs: 120_000,
  drainLimitMs: 60_000
}

/**
 * Inside `npm test`: a few hundred requests per fault, paced, so that it shares the machine with
 * the other test files; the same faults, shorter.
 */
export const SHORT: Profile = {
  name: "short",
  requests: 300,
  maxRequests: 1_500,
  inFlight: 48,
  ratePerSecond: 60,
  createShare: 0.7,
  tailMs: 2_000,
  attemptTimeoutMs: 2_000,
  maxAttempts: 8,
  resendBaseDelayMs: 200,
  resendMaxDelayMs: 1_500,
  faultAfterRequests: 60,
  connectionCloses: 3,
  connectionCloseSpacingMs: 1_500,
  rabbitDownMs: 1_000,
  mariadbDownMs: 1_000,
  alarmMs: 2_000,
  loadLimitMs: 45_000,
  drainLimitMs: 30_000
}
