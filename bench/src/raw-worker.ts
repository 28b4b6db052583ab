// The raw ceiling's worker: plain amqplib and mysql2, no Effect, no BEDS. It consumes `bench.raw`,
// and for each message replies at once (echo), or after one mysql2 CALL (read or write), then acks.
// Run by the benchmark as its own process, so its CPU is measured apart from everything else.
import amqp from "amqplib"
import mysql from "mysql2/promise"

const [amqpUrl = "", database = "", prefetchArg = "256"] = process.argv.slice(2)
const pool = mysql.createPool({ host: "127.0.0.1", port: 3306, user: "root", password: "", database, connectionLimit: 16 })
const connection = await amqp.connect(amqpUrl, { noDelay: true })
const channel = await connection.createChannel()
await channel.assertQueue("bench.raw", { durable: false, autoDelete: false })
await channel.prefetch(Number(prefetchArg))

await channel.consume("bench.raw", (message) => {
  if (message === null) return
  const body = JSON.parse(message.content.toString()) as { kind: "echo" | "read" | "write"; id?: number; payload?: string }
  const reply = (data: unknown) => {
    channel.sendToQueue(message.properties.replyTo, Buffer.from(JSON.stringify({ status: "ok", data })), {
      correlationId: message.properties.correlationId
    })
    channel.ack(message)
  }
  if (body.kind === "echo") return reply(body)
  const call = body.kind === "read"
    ? pool.execute("CALL bnr_by_id(?)", [body.id ?? 0])
    : pool.execute("CALL bnr_create(?)", [body.payload ?? ""])
  call.then(([rows]) => reply((rows as Array<unknown>)[0]), (error: Error) => reply({ error: error.message }))
}, { noAck: false })

process.send?.("ready")
process.on("SIGTERM", async () => {
  await connection.close().catch(() => undefined)
  await pool.end().catch(() => undefined)
  process.exit(0)
})
