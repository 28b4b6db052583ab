// `npm run stand-ins`: the MongoDB and DynamoDB stand-ins alone, without a node: jongodb (MongoDB
// wire protocol, in memory) on 127.0.0.1:27017 and dynalite (DynamoDB API, in memory) on
// 127.0.0.1:8000, or free ports when those are taken (`--free-ports`: always free ones). They print
// their addresses and run until Ctrl-C (SIGINT) or SIGTERM; nothing they hold outlives them.
import { isListening, startDynalite, startJongodb } from "./local-services.mjs"

const free = process.argv.includes("--free-ports")
const mongo = await startJongodb({ ownGroup: true, port: free || (await isListening(27017)) ? undefined : 27017 })
const dynamo = await startDynalite({ port: free || (await isListening(8000)) ? undefined : 8000 })
console.log(`stand-ins: jongodb at ${mongo.uri} (BEDS_MONGODB__URI), dynalite at ${dynamo.endpoint} (BEDS_DYNAMODB__ENDPOINT)`)
console.log("stand-ins: Ctrl-C stops both")

let stopping = false
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, async () => {
    if (stopping) return
    stopping = true
    await Promise.all([mongo.stop(), dynamo.stop()])
    console.log("stand-ins: stopped")
    process.exit(0)
  })
}
