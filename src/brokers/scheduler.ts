import { Scheduler } from "effect"

/** Drains chained in a row (tasks scheduled by tasks) before one goes through setImmediate, so I/O is never starved. */
const MICROTASK_DRAINS_BEFORE_MACROTASK = 2048

/**
 * The scheduler broker fibers (and so every message's fiber) run on: one queue for all of them,
 * drained in a microtask. Effect's default scheduler (3.20+) keeps a runner per fiber in a WeakMap
 * so that AsyncLocalStorage context stays isolated between fibers; BEDS uses no AsyncLocalStorage,
 * and the per-fiber runner was measured at about 3 of the ~13 µs a message's fiber costs when it
 * waits on a database (BENCHMARKS.md). Like the default, it falls back to a macrotask after 2048
 * microtask drains in a row, and it keeps Effect's own yield rule (`shouldYield`).
 */
export const makeSharedScheduler = (): Scheduler.Scheduler => {
  let tasks: Array<Scheduler.Task> = []
  let scheduled = false
  let draining = false
  let drainsInARow = 0
  const drain = () => {
    const run = tasks
    tasks = []
    scheduled = false
    draining = true
    try {
      for (const task of run) task()
    } finally {
      draining = false
    }
  }
  return Scheduler.make((task) => {
    tasks.push(task)
    if (scheduled) return
    scheduled = true
    // A task scheduled by a running task continues a chain; one scheduled from I/O starts a new one.
    drainsInARow = draining ? drainsInARow + 1 : 0
    if (drainsInARow >= MICROTASK_DRAINS_BEFORE_MACROTASK) {
      drainsInARow = 0
      setImmediate(drain)
    } else {
      queueMicrotask(drain)
    }
  })
}
