export interface UserPermissions { readonly configure: string; readonly write: string; readonly read: string }
export interface TopicPermission { readonly exchange: string; readonly write: string; readonly read: string }
export interface LayoutEntry {
  readonly vhost: string
  readonly user: string
  readonly role: "node" | "producer" | "operator"
  readonly permissions: UserPermissions
  readonly topics: ReadonlyArray<TopicPermission>
}
export interface ProducerSpec { readonly user: string; readonly routes?: ReadonlyArray<string>; readonly replyPrefix?: string }
export interface AdminRoute {
  readonly name: string
  readonly importDefinitions: (definitions: unknown) => Promise<void>
  readonly deleteUsers: (users: ReadonlyArray<string>) => Promise<void>
}
export declare const BROKER_TYPES: ReadonlyArray<string>
export declare const LOG_FAMILIES: ReadonlyArray<string>
export declare const shippedRoutes: (configFile?: string) => Array<string>
export declare const userLayout: (options: {
  vhost: string
  node?: string
  operator?: string
  producers?: ReadonlyArray<ProducerSpec>
  routes?: ReadonlyArray<string>
}) => Array<LayoutEntry>
export declare const passwordHash: (password: string) => string
export declare const layoutDefinitions: (layout: ReadonlyArray<LayoutEntry>, passwordOf: (user: string) => string) => {
  vhosts: Array<{ name: string }>
  users: Array<{ name: string; password_hash: string; hashing_algorithm: string; tags: Array<string> }>
  permissions: Array<{ user: string; vhost: string } & UserPermissions>
  topic_permissions: Array<{ user: string; vhost: string } & TopicPermission>
}
export declare const adminRoute: (options?: { api?: string | undefined; user?: string | undefined; password?: string | undefined }) => AdminRoute
export declare const applyUserLayout: (layout: ReadonlyArray<LayoutEntry>, passwordOf: (user: string) => string, route?: AdminRoute) => Promise<void>
export declare const removeUsers: (layout: ReadonlyArray<LayoutEntry>, route?: AdminRoute) => Promise<void>
export declare const layoutCommands: (layout: ReadonlyArray<LayoutEntry>) => Array<string>
export declare const generatePassword: () => string
export declare const passwordFromDirectory: (directory: string) => (user: string) => string
