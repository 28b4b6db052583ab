import type { DeadLetter } from "./dead-letter.js"

/** 42s, 3m12s, 2h05m, 4d03h: an age an operator reads at a glance. */
export const formatAge = (ms: number): string => {
  const s = Math.max(0, Math.floor(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, "0")}h`
}

const ageOf = (letter: DeadLetter, now: number) => (letter.deadLetteredAt === undefined ? "?" : formatAge(now - letter.deadLetteredAt))
const what = (letter: DeadLetter) => `${letter.template ?? "?"}.${letter.op ?? "?"}`

/** One line per dead letter, in columns: position, code, template.op, age, id (and eventId when it differs), reason. */
export const listLines = (letters: ReadonlyArray<DeadLetter>, now: number): ReadonlyArray<string> => {
  const rows = letters.map((letter) => [
    `#${letter.position}`,
    letter.code,
    what(letter),
    ageOf(letter, now),
    letter.eventId !== undefined && letter.eventId !== letter.id ? `${letter.id} (eventId ${letter.eventId})` : letter.id,
    letter.reason
  ])
  const header = ["#", "code", "template.op", "age", "id", "reason"]
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)))
  const line = (row: ReadonlyArray<string>) =>
    row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  ")
  return [line(header), ...rows.map(line)]
}

/** One dead letter as a JSON line (`list --json`), for scripts. */
export const jsonLine = (letter: DeadLetter, now: number): string =>
  JSON.stringify({
    position: letter.position,
    id: letter.id,
    code: letter.code,
    reason: letter.reason,
    template: letter.template ?? null,
    op: letter.op ?? null,
    eventId: letter.eventId ?? null,
    routingKey: letter.routingKey,
    deadLetteredAt: letter.deadLetteredAt === undefined ? null : new Date(letter.deadLetteredAt).toISOString(),
    ageMs: letter.deadLetteredAt === undefined ? null : now - letter.deadLetteredAt
  })

/** Everything about one dead letter: what `list` shows, its properties and headers, and its body. */
export const showLines = (letter: DeadLetter, now: number): ReadonlyArray<string> => {
  const text = letter.message.content.toString("utf8")
  let body = text
  try {
    body = JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    // Not JSON (a bad_envelope dead letter may be anything): shown as it came.
  }
  const { headers, ...properties } = letter.message.properties
  const defined = Object.fromEntries(Object.entries(properties).filter(([, value]) => value !== undefined))
  return [
    `#${letter.position} ${letter.id}`,
    `code:         ${letter.code}`,
    `reason:       ${letter.reason}`,
    `request:      ${what(letter)} (routing key ${letter.routingKey})`,
    `eventId:      ${letter.eventId ?? "?"}`,
    `dead-lettered: ${letter.deadLetteredAt === undefined ? "?" : `${new Date(letter.deadLetteredAt).toISOString()} (${ageOf(letter, now)} ago)`}`,
    `properties:   ${JSON.stringify(defined)}`,
    `headers:      ${JSON.stringify(headers ?? {})}`,
    `body (${letter.message.content.length} bytes):`,
    body
  ]
}
