import type { BrokerType, Role } from "./schema.js"

/** The outside services a node depends on; the IPL checks exactly those of the node's role. */
export type ServiceName = "rabbitmq" | "mariadb" | "mongodb" | "dynamodb" | "shared_fs"

/**
 * What each role needs. appServer serves every template, so it needs every store; admin writes
 * logs, audit and metrics to MongoDB (msLogs); segundo moves aged records from the stores to cool
 * storage on the shared filesystem; tercero keeps users in MariaDB and sessions in DynamoDB.
 */
export const roleServices: Readonly<Record<Role, ReadonlyArray<ServiceName>>> = {
  appServer: ["rabbitmq", "mariadb", "mongodb", "dynamodb", "shared_fs"],
  admin: ["rabbitmq", "mongodb"],
  segundo: ["rabbitmq", "mariadb", "mongodb", "dynamodb", "shared_fs"],
  tercero: ["rabbitmq", "mariadb", "dynamodb"]
}

/** The broker types each role runs (the design card's table). */
export const roleBrokers: Readonly<Record<Role, ReadonlyArray<BrokerType>>> = {
  appServer: ["rBroker", "wBroker", "mBroker"],
  admin: ["adminBrokerIn", "adminBrokerOut", "adminLogsBroker", "adminSyslogBroker", "adminGraphBroker"],
  segundo: ["whBroker", "cBroker"],
  tercero: ["uBroker", "sBroker"]
}
