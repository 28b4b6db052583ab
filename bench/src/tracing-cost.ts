// What tracing costs the node per message, apart from RabbitMQ and the store: the observer's
// callback spans, the operation's dispatch span and a database call's span, around a stand-in
// asynchronous call, in one process: tracing off, sampled at 1% and at 100% (spans batched to an
// in-memory exporter); "0% (on)" is tracing on with nothing sampled, what the 1% mode costs
// the other 99 messages. `node bench/dist/tracing-cost.js` after `npm run build` and `tsc -p bench/tsconfig.json`.
import type { ConsumeMessage } from "amqplib"
import { Effect, Layer, ManagedRuntime, RuntimeFlags } from "effect"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import * as Resource from "@effect/opentelemetry/Resource"
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
import { makeObserver } from "../../dist/brokers/observe.js"
import { makeDbCall } from "../../dist/core/instrument.js"
import { decodeDelivery } from "../../dist/brokers/ingress.js"
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system }
const body = Buffer.from(JSON.stringify({ version: 1, template: "bench_rel", op: "by_id", query: { id: 7 }, lineage: { eventId: "bench.dev.0b7e2f5a-1c2d-4e5f-8a9b-0c1d2e3f4a5b", parentId: "", depth: 0 } }))
const message = ({ content: body, fields: { exchange: "beds.events", routingKey: "read.bench_rel.by_id", redelivered: false, deliveryTag: 1 }, properties: { headers: {}, replyTo: "amq.rabbitmq.reply-to.abc", correlationId: "c1", contentType: "application/json" } }) as unknown as ConsumeMessage
const decoded = decodeDelivery(message, 1 << 20)
if (decoded._tag !== "Accepted") throw new Error(decoded.reason)
const ingress = decoded
const io = Effect.async((resume) => void setImmediate(() => resume(Effect.succeed([{ id: 7 }]))))
const run = async <ROut,>(label: string, layer: Layer.Layer<ROut, never, never>, tracerOf: Effect.Effect<any, any, any>, opts: { readonly ratio?: number } = {}) => {
  const rt = ManagedRuntime.make(Layer.merge(layer, RuntimeFlags.disableRuntimeMetrics))
  const tracer = await rt.runPromise(tracerOf)
  const observer = makeObserver({ pool: "rBroker", queue: "q", tracer, sampleRatio: opts.ratio ?? 0 })
  const dbCall = makeDbCall(tracer !== undefined)
  const one = () => new Promise<void>((resolve) => {
    const o = observer.begin(message)
    rt.runCallback(observer.around(o, ingress, dbCall("mariadb", "bnr_by_id", "read", io)), { onExit: () => { observer.replyHeaders(o, ingress); observer.end(o, ingress, { _tag: "Succeeded", data: 1 }, { _tag: "Acked", settlement: { reply: { version: 1, status: "ok", data: 1, lineage: ingress.request.lineage }, deadLetter: undefined, replaceBroker: false } }, false); resolve() } })
  })
  const batch = async (n: number) => { const all = []; for (let i = 0; i < n; i++) { all.push(one()); if (all.length === 64) { await Promise.all(all); all.length = 0 } } await Promise.all(all) }
  await batch(20000)
  const t = cpu(); await batch(100000)
  console.log(label.padEnd(14), ((cpu() - t) / 100000).toFixed(2), "µs/msg")
  await rt.dispose()
}
const traced = () => Layer.provideMerge(OtelTracer.layer, NodeSdk.layerTracerProvider(new BatchSpanProcessor(new InMemorySpanExporter()), { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(1) }) })).pipe(Layer.provide(Resource.layer({ serviceName: "b" })))
for (let r = 0; r < 2; r++) {
  await run("off", Layer.empty, Effect.succeed(undefined))
  await run("0% (on)", traced(), OtelTracer.OtelTracer, { ratio: 0 })
  await run("1%", traced(), OtelTracer.OtelTracer, { ratio: 0.01 })
  await run("100%", traced(), OtelTracer.OtelTracer, { ratio: 1 })
}
