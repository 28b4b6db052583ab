/**
 * THE switch for exactly-once effects (issue 12). While false, the chaos test in `npm test`
 * (test/chaos/chaos.test.ts) asserts only that nothing answered ok was lost, and prints the
 * duplicated effects it saw; `npm run chaos` reports them without failing. Set it to true when
 * mutations are idempotent: then every chaos run must also show zero duplicated effects.
 */
export const EXACTLY_ONCE = true
