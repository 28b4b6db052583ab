import { Duration, Effect, FiberRef, HashMap } from "effect"

/** One summary line per broker type per window, at most. */
export const DEAD_LETTER_WINDOW = Duration.seconds(10)

interface Window {
  readonly counts: Map<string, number>
  last: { readonly code: string; readonly reason: string } | undefined
}

/**
 * The log of dead letters, rate-limited per broker type: the first dead letter after a quiet spell
 * is logged at once with its code and reason (`dead-lettered: unavailable: ...`); those that follow
 * within the window are counted, and one line per window then gives their counts per code and the
 * last reason, for as long as they keep coming. A flood of poison messages is a few lines, not one
 * per message; the messages themselves are all in the dead-letter queue (`beds dlq list`).
 *
 * The window's line is written by a daemon fiber, so it is written even when the broker that saw
 * the dead letters was replaced meanwhile (a defect replaces it); a window still open when the
 * process exits is not written.
 */
export const makeDeadLetterLog = (window: Duration.DurationInput) => {
  const open = new Map<string, Window>()
  const seconds = Duration.toSeconds(window)

  const summary = (brokerType: string, counts: Map<string, number>, last: NonNullable<Window["last"]>) => {
    const byCode = [...counts].sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    const total = byCode.reduce((sum, [, n]) => sum + n, 0)
    return `dead-lettered ${total} more on ${brokerType} in the last ${seconds} s (${byCode.map(([code, n]) => `${code} ${n}`).join(", ")}); ` +
      `last: ${last.code}: ${last.reason}`
  }

  /** A new window for `brokerType`, open at once (so the next dead letter is counted in it). */
  const openWindow = (brokerType: string): Window => {
    const current: Window = { counts: new Map(), last: undefined }
    open.set(brokerType, current)
    return current
  }

  /** When the window ends: writes what it counted and opens the next one, or closes it if it counted nothing. */
  const endOfWindow = (brokerType: string, current: Window): Effect.Effect<void> =>
    Effect.sleep(window).pipe(
      Effect.zipRight(Effect.suspend(() => {
        if (current.last === undefined) {
          open.delete(brokerType)
          return Effect.void
        }
        const line = summary(brokerType, current.counts, current.last)
        return Effect.logWarning(line).pipe(Effect.zipRight(endOfWindow(brokerType, openWindow(brokerType))))
      }))
    )

  /** Records one dead letter of `brokerType`: logged now, or counted for its window's line. */
  const record = (brokerType: string, deadLetter: { readonly code: string; readonly reason: string }): Effect.Effect<void> =>
    Effect.suspend(() => {
      const current = open.get(brokerType)
      if (current !== undefined) {
        current.counts.set(deadLetter.code, (current.counts.get(deadLetter.code) ?? 0) + 1)
        current.last = deadLetter
        return Effect.void
      }
      const opened = openWindow(brokerType)
      return Effect.logWarning(`dead-lettered: ${deadLetter.code}: ${deadLetter.reason}`).pipe(
        Effect.zipRight(Effect.forkDaemon(endOfWindow(brokerType, opened).pipe(
          // Not about any one message: the annotations of the one that opened the window are dropped.
          Effect.locally(FiberRef.currentLogAnnotations, HashMap.make(["broker", brokerType] as const))
        ))),
        Effect.asVoid
      )
    })

  return { record }
}

/** The process's dead-letter log, shared by every broker (brokers/broker.ts). */
export const deadLetterLog = makeDeadLetterLog(DEAD_LETTER_WINDOW)
