export declare const NO_ROUTE: string
export declare const rabbitAdminRoute: () => Promise<"api" | "rabbitmqctl">
export declare const addVhost: (name: string) => Promise<() => Promise<void>>
export declare const ensureVhost: (name: string) => Promise<boolean>
export declare const closeConnectionsNamed: (vhost: string, name: string) => Promise<number>
export declare const queueTypes: (vhost: string) => Promise<Record<string, string>>
