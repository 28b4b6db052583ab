/** Requests: topic exchange, durable; routing keys map each template operation to one broker queue. */
export const EVENTS_EXCHANGE = "beds.events"
/** Log, audit and metric events: topic exchange, durable. */
export const LOGS_EXCHANGE = "beds.logs"

export interface ExchangeDeclaration {
  readonly name: string
  readonly type: "topic" | "direct" | "fanout"
  readonly durable: boolean
}

export const exchanges: ReadonlyArray<ExchangeDeclaration> = [
  { name: EVENTS_EXCHANGE, type: "topic", durable: true },
  { name: LOGS_EXCHANGE, type: "topic", durable: true }
]
