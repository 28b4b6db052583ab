import { Args, Command, Options, Prompt } from "@effect/cli"
import { FileSystem, Path, Terminal } from "@effect/platform"
import type { ConsumeMessage, Options as AmqpOptions } from "amqplib"
import { Clock, Console, Effect, Either, Option, Schema } from "effect"
import { loadConfig } from "../config/load.js"
import { BrokerType, type BedsConfig } from "../config/schema.js"
import { startupSettings } from "../config/startup.js"
import { Reply } from "../protocol/envelope.js"
import { LetterRefFromString, matchesFilter, matchesRef, type DeadLetter, type LetterFilter, type LetterRef } from "./dead-letter.js"
import { DlqError, openDeadLetterQueue, type DeadLetterQueue, type Replayed } from "./dead-letter-queue.js"
import { jsonLine, listLines, showLines } from "./render.js"
import { resignReplay } from "./resign.js"

const type = Options.choice("type", BrokerType.literals).pipe(
  Options.withDescription("the broker type whose dead-letter queue (beds.{type}.dlq) to work on, e.g. wBroker")
)
const limit = Options.integer("limit").pipe(
  Options.withSchema(Schema.Int.pipe(Schema.between(1, 1_000_000))),
  Options.withDefault(10_000),
  Options.withDescription("read at most this many dead letters from the head of the queue")
)
const filters = {
  code: Options.text("code").pipe(Options.optional, Options.withDescription("only dead letters with this code (internal, unavailable, bad_envelope, rejected)")),
  template: Options.text("template").pipe(Options.optional, Options.withDescription("only requests for this template")),
  op: Options.text("op").pipe(Options.optional, Options.withDescription("only requests for this operation"))
}
const refs = Args.text({ name: "n|id" }).pipe(
  Args.withSchema(LetterRefFromString),
  Args.repeated,
  Args.withDescription("dead letters by position in `beds dlq list` (3 or #3) or by id (the messageId, or the eventId)")
)
const all = Options.boolean("all").pipe(Options.withDescription("every dead letter read (narrowed by --code, --template, --op)"))

/** The node's config, read as the node reads it: BEDS_ENV, BEDS_CONFIG_DIR, the files, BEDS_* variables. */
const nodeConfig = (variables: Readonly<Record<string, string | undefined>>) =>
  Effect.flatMap(startupSettings, (settings) => loadConfig({ ...settings, variables }))

/** Opens the dead-letter queue of `brokerType` for the duration of `use`; unread messages stay where they were. */
const withQueue = <A, E, R>(
  variables: Readonly<Record<string, string | undefined>>,
  brokerType: string,
  use: (dlq: DeadLetterQueue, config: BedsConfig) => Effect.Effect<A, E, R>
) =>
  Effect.scoped(Effect.gen(function*() {
    const config = yield* nodeConfig(variables)
    const dlq = yield* openDeadLetterQueue(config.rabbitmq, brokerType, { timeoutMs: config.ipl.step_timeout_ms })
    return yield* use(dlq, config)
  }))

/** What a command acts on: the named dead letters, or with --all every one read; either narrowed by the filters. */
const select = (letters: ReadonlyArray<DeadLetter>, named: ReadonlyArray<LetterRef>, everyOne: boolean, filter: LetterFilter, verb: string) =>
  Effect.gen(function*() {
    if (named.length === 0 && !everyOne) {
      return yield* new DlqError({
        message: `name the dead letters to ${verb} by position or id (see \`beds dlq list\`), or pass --all (narrowed by --code, --template, --op)`
      })
    }
    // An id names every copy of that request in the queue; a position names one.
    const chosen = named.length === 0 ? letters : (yield* Effect.forEach(named, (ref) => {
      const found = letters.filter((letter) => matchesRef(letter, ref))
      return found.length === 0
        ? new DlqError({ message: `no dead letter ${ref._tag === "Position" ? `#${ref.position}` : ref.id} among the ${letters.length} read` })
        : Effect.succeed(found)
    })).flat()
    return [...new Set(chosen)].sort((a, b) => a.position - b.position).filter((letter) => matchesFilter(letter, filter))
  })

/** "1 dead letter", "3 dead letters". */
const deadLetters = (n: number) => `${n} dead letter${n === 1 ? "" : "s"}`

const warnIfLong = (dlq: DeadLetterQueue, config: BedsConfig) =>
  dlq.messageCount > config.dead_letters.warn_length
    ? Console.error(`warning: ${dlq.queue} holds ${deadLetters(dlq.messageCount)}, more than dead_letters.warn_length ${config.dead_letters.warn_length}`)
    : Effect.void

const list = (variables: Readonly<Record<string, string | undefined>>) =>
  Command.make("list", { type, limit, json: Options.boolean("json").pipe(Options.withDescription("one JSON object per line")), ...filters }, (args) =>
    withQueue(variables, args.type, (dlq, config) =>
      Effect.gen(function*() {
        const read = yield* dlq.read(args.limit)
        const matching = read.filter((letter) => matchesFilter(letter, args))
        const now = yield* Clock.currentTimeMillis
        yield* warnIfLong(dlq, config)
        if (args.json) return yield* Effect.forEach(matching, (letter) => Console.log(jsonLine(letter, now)), { discard: true })
        const shown = matching.length === read.length ? "" : `, ${matching.length} of them match`
        const more = read.length < dlq.messageCount ? ` (the first ${read.length} read: --limit)` : ""
        yield* Console.log(`${dlq.where}: ${deadLetters(dlq.messageCount)}${more}${shown}`)
        if (matching.length > 0) yield* Console.log(listLines(matching, now).join("\n"))
      }))).pipe(Command.withDescription("list dead letters (code, reason, template.op, age, id); they stay in the queue"))

const show = (variables: Readonly<Record<string, string | undefined>>) =>
  Command.make("show", { type, limit, ref: Args.text({ name: "n|id" }).pipe(Args.withSchema(LetterRefFromString)) }, (args) =>
    withQueue(variables, args.type, (dlq) =>
      Effect.gen(function*() {
        const [letter] = yield* select(yield* dlq.read(args.limit), [args.ref], false, noFilter, "show")
        yield* Console.log(showLines(letter!, yield* Clock.currentTimeMillis).join("\n"))
      }))).pipe(Command.withDescription("everything about one dead letter: headers, properties, body"))

const noFilter: LetterFilter = { code: Option.none(), template: Option.none(), op: Option.none() }

const decodeReply = Schema.decodeUnknownEither(Schema.parseJson(Reply))

const replay = (variables: Readonly<Record<string, string | undefined>>) =>
  Command.make("replay", {
    type,
    limit,
    all,
    ...filters,
    refs,
    replyHere: Options.boolean("reply-here").pipe(
      Options.withDescription("send the replies here (direct reply-to) and print them, instead of to each request's replyTo")
    ),
    waitS: Options.integer("wait-s").pipe(
      Options.withSchema(Schema.Int.pipe(Schema.between(1, 3_600))),
      Options.withDefault(30),
      Options.withDescription("with --reply-here: how long to wait for the replies")
    )
  }, (args) =>
    withQueue(variables, args.type, (dlq, config) =>
      Effect.gen(function*() {
        const chosen = yield* select(yield* dlq.read(args.limit), args.refs, args.all, args, "replay")
        const replies = new Map<string, ConsumeMessage>()
        const notResigned: Array<string> = []
        const sign = (letter: DeadLetter, properties: AmqpOptions.Publish) => {
          const resigned = resignReplay(config.trust.keys, { routingKey: letter.routingKey, ...letter.message }, properties, Date.now())
          if (resigned._tag === "NotResigned") notResigned.push(`#${letter.position} ${letter.id} replayed as it was signed: ${resigned.reason}; a node will refuse it`)
          return resigned.properties
        }
        const publish = yield* dlq.replayer({ replyHere: args.replyHere, onReply: (message) => replies.set(message.properties.correlationId, message), sign })
        const published: Array<Extract<Replayed, { _tag: "Published" }>> = []
        let unroutable = 0
        for (const letter of chosen) {
          const replayed = yield* publish(letter)
          if (replayed._tag === "Unroutable") {
            unroutable++
            yield* Console.error(`not replayed #${letter.position} ${letter.id}: no queue is bound to ${letter.routingKey} on beds.events (no node serves it); it stays dead-lettered`)
            continue
          }
          // Confirmed by RabbitMQ: now the dead letter can go.
          yield* dlq.remove([letter])
          published.push(replayed)
          yield* Console.log(`replayed #${letter.position} ${letter.id} -> ${letter.routingKey}`)
          for (const warning of notResigned.splice(0)) yield* Console.error(`warning: ${warning}`)
        }
        yield* dlq.settled
        yield* Console.log(`replayed ${published.length} of ${chosen.length} chosen; ${dlq.messageCount - published.length} left in ${dlq.queue}`)
        if (args.replyHere) yield* printReplies(published, replies, args.waitS)
        if (unroutable > 0) return yield* new DlqError({ message: `${unroutable} of ${chosen.length} not replayed (above)` })
      }))).pipe(Command.withDescription("republish dead letters to beds.events with their routing key and properties, so a node answers them"))

const printReplies = (published: ReadonlyArray<Extract<Replayed, { _tag: "Published" }>>, replies: Map<string, ConsumeMessage>, waitS: number) =>
  Effect.gen(function*() {
    const expected = published.filter((p) => p.correlationId !== undefined)
    const deadline = (yield* Clock.currentTimeMillis) + waitS * 1000
    while (expected.some((p) => !replies.has(p.correlationId!)) && (yield* Clock.currentTimeMillis) < deadline) yield* Effect.sleep("50 millis")
    for (const { letter, correlationId } of published) {
      const label = `#${letter.position} ${letter.id}`
      const message = correlationId === undefined ? undefined : replies.get(correlationId)
      if (message === undefined) {
        yield* Console.log(`${label}: ${correlationId === undefined ? "no correlationId, so no reply" : `no reply within ${waitS} s`}`)
        continue
      }
      yield* Either.match(decodeReply(message.content.toString("utf8")), {
        onLeft: () => Console.log(`${label}: a reply that is not a v1 reply`),
        onRight: (reply) =>
          Console.log(reply.status === "ok"
            ? `${label}: ok ${JSON.stringify(reply.data)}`
            : `${label}: error ${reply.error.code}: ${reply.error.message}`)
      })
    }
  })

const purge = (variables: Readonly<Record<string, string | undefined>>) =>
  Command.make("purge", {
    type,
    limit,
    all,
    ...filters,
    refs,
    yes: Options.boolean("yes").pipe(Options.withAlias("y"), Options.withDescription("remove without asking"))
  }, (args) =>
    withQueue(variables, args.type, (dlq) =>
      Effect.gen(function*() {
        const chosen = yield* select(yield* dlq.read(args.limit), args.refs, args.all, args, "purge")
        if (chosen.length === 0) return yield* Console.log(`nothing to purge in ${dlq.queue}`)
        if (!args.yes) {
          const terminal = yield* Terminal.Terminal
          if (!(yield* terminal.isTTY)) {
            return yield* new DlqError({ message: `purge removes ${deadLetters(chosen.length)} for good: pass --yes to confirm (no terminal to ask on)` })
          }
          const confirmed = yield* Prompt.run(Prompt.confirm({ message: `Remove ${deadLetters(chosen.length)} from ${dlq.queue} for good?`, initial: false }))
          if (!confirmed) return yield* Console.log("nothing purged")
        }
        yield* dlq.remove(chosen)
        yield* dlq.settled
        yield* Console.log(`purged ${deadLetters(chosen.length)} from ${dlq.queue}; ${dlq.messageCount - chosen.length} left`)
      }))).pipe(Command.withDescription("remove dead letters for good (asks first, unless --yes)"))

/** `beds dlq list|show|replay|purge`; `variables` are the process's environment (BEDS_*), read at the entry. */
export const bedsCommand = (variables: Readonly<Record<string, string | undefined>>) =>
  Command.make("beds").pipe(
    Command.withDescription("BEDS operator commands; they read the node's config (BEDS_ENV, BEDS_CONFIG_DIR, BEDS_* variables)"),
    Command.withSubcommands([
      Command.make("dlq").pipe(
        Command.withDescription("dead letters of one broker type: look, replay, purge"),
        Command.withSubcommands([list(variables), show(variables), replay(variables), purge(variables)])
      )
    ])
  )

/** What the entry needs provided. */
export type CliRequirements = FileSystem.FileSystem | Path.Path | Terminal.Terminal
