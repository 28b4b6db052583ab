import { probeDynamoDb } from "../adapters/dynamodb/probe.js"
import { dynamoDbTarget } from "../adapters/dynamodb/client.js"
import { mariaDbTarget } from "../adapters/mariadb/client.js"
import { probeMariaDb } from "../adapters/mariadb/probe.js"
import { mongoDbTarget } from "../adapters/mongodb/client.js"
import { probeMongoDb } from "../adapters/mongodb/probe.js"
import type { BedsConfig } from "../config/schema.js"
import { probeSharedFs } from "../platform/shared-fs.js"
import { roleServices, type ServiceName } from "../config/roles.js"
import { rabbitMqTarget } from "../transport/connect.js"
import { probeRabbitMq } from "../transport/probe.js"
import type { IplStep } from "./runner.js"
import { FileSystem, Path } from "@effect/platform"

type StepRequirements = FileSystem.FileSystem | Path.Path

/** The service checks of the node's role, in boot order: the message bus first, then the stores. */
export const serviceSteps = (config: BedsConfig): ReadonlyArray<IplStep<void, StepRequirements>> => {
  const timeoutMs = config.ipl.step_timeout_ms
  const clientName = `beds ${config.node.id} ipl`
  const stepsFor: Record<ServiceName, () => ReadonlyArray<IplStep<void, StepRequirements>>> = {
    rabbitmq: () => [{
      name: "rabbitmq",
      target: rabbitMqTarget(config.rabbitmq),
      run: probeRabbitMq(config.rabbitmq, { name: clientName, timeoutMs })
    }],
    mariadb: () => [
      {
        name: "mariadb master",
        target: mariaDbTarget(config.mariadb.master),
        run: probeMariaDb(config.mariadb.master, { timeoutMs })
      },
      ...(config.mariadb.secondary === undefined ? [] : [{
        name: "mariadb secondary",
        target: mariaDbTarget(config.mariadb.secondary),
        run: probeMariaDb(config.mariadb.secondary, { timeoutMs })
      }])
    ],
    mongodb: () => [{
      name: "mongodb",
      target: mongoDbTarget(config.mongodb),
      run: probeMongoDb(config.mongodb, { appName: clientName, timeoutMs })
    }],
    dynamodb: () => [{
      name: "dynamodb",
      target: dynamoDbTarget(config.dynamodb),
      run: probeDynamoDb(config.dynamodb, { timeoutMs })
    }],
    shared_fs: () => [{
      name: "shared filesystem",
      target: config.shared_fs.path,
      run: probeSharedFs(config.shared_fs.path, { nodeId: config.node.id })
    }]
  }
  return roleServices[config.node.role].flatMap((service) => stepsFor[service]())
}
