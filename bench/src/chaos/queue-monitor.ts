// Samples the ready messages in the broker queues of a run's vhost every 250 ms, on a connection of
// its own that survives the faults (it reconnects on the next tick). A passive declare is cheap and
// never publishes, so a memory alarm does not block it.
import amqp from "amqplib"
import type { QueueSample } from "./analyse.js"
import { sleep } from "./processes.js"

export const startQueueMonitor = (options: { readonly port: number; readonly vhost: string; readonly queues: ReadonlyArray<string>; readonly now: () => number }) => {
  const samples: Array<QueueSample> = []
  let running = true
  let connection: amqp.ChannelModel | undefined
  let channel: amqp.Channel | undefined

  const reset = () => {
    const old = connection
    connection = undefined
    channel = undefined
    old?.close().catch(() => undefined)
  }
  const sample = async (): Promise<number | undefined> => {
    try {
      if (connection === undefined) {
        const opened = await amqp.connect({ hostname: "127.0.0.1", port: options.port, username: "guest", password: "guest", vhost: options.vhost })
        opened.on("error", () => undefined) // a closed connection is expected here
        opened.on("close", () => {
          if (connection === opened) reset()
        })
        connection = opened
      }
      if (channel === undefined) {
        const opened = await connection.createChannel()
        opened.on("error", () => undefined)
        opened.on("close", () => {
          if (channel === opened) channel = undefined
        })
        channel = opened
      }
      let ready = 0
      for (const queue of options.queues) ready += (await channel.checkQueue(queue)).messageCount
      return ready
    } catch {
      reset()
      return undefined
    }
  }
  const loop = (async () => {
    while (running) {
      const at = options.now()
      samples.push({ at, ready: await sample() })
      await sleep(250)
    }
  })()
  return {
    samples,
    stop: async () => {
      running = false
      await loop
      reset()
    }
  }
}
