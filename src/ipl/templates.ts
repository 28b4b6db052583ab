import type { FileSystem, Path } from "@effect/platform"
import { Effect, type Scope } from "effect"
import { type Adapters, buildAdapters } from "../adapters/adapters.js"
import { missingObjects } from "../adapters/objects.js"
import { roleBrokers, roleServices } from "../config/roles.js"
import type { BedsConfig } from "../config/schema.js"
import { ServiceUnavailable } from "../kernel/errors.js"
import { loadTemplates } from "../templates/load.js"
import type { Template } from "../templates/schema.js"
import { StepDegraded, type IplStep } from "./runner.js"

/** Templates this node serves: routed to one of its brokers, on a store its role reaches. */
export const servedBy = (config: BedsConfig, template: Template): boolean => {
  const routes = new Set(roleBrokers[config.node.role].flatMap((type) => config.brokers[type].routes))
  return (routes.has(template.routes.read) || routes.has(template.routes.write)) &&
    (roleServices[config.node.role] as ReadonlyArray<string>).includes(template.adapter)
}

/**
 * The IPL step "templates": load and decode every template file, build the adapters the served
 * templates use (once, in the calling scope: the node serves with these same adapters), and check
 * that each object a served template names exists on its adapter. A template with a missing object
 * or an adapter that cannot be built is disabled, and the step fails naming it (fatal in prod; in
 * dev and qa the rest are served). A bad template file fails the step in every env: no template is
 * served then.
 */
export const templatesStep = (config: BedsConfig) => {
  const directory = config.templates.directory
  const step: IplStep<Found, FileSystem.FileSystem | Path.Path | Scope.Scope> = {
    name: "templates",
    target: directory,
    run: Effect.gen(function*() {
      const loaded = yield* loadTemplates(directory).pipe(Effect.mapError((error) => new ServiceUnavailable({ target: directory, reason: error.message })))
      const served = loaded.map((entry) => entry.template).filter((template) => servedBy(config, template))
      const { adapters, failed } = yield* buildAdapters(config, new Set(served.map((template) => template.adapter)))
      const problems: Array<string> = []
      const enabled: Array<Template> = []
      for (const template of served) {
        const adapter = adapters[template.adapter]
        if (adapter === undefined) {
          problems.push(`${template.name} disabled: adapter ${failed.get(template.adapter)?.message ?? template.adapter}`)
          continue
        }
        const missing = yield* missingObjects(template, adapter).pipe(
          Effect.catchAll((error) => Effect.succeed([{ object: `(check failed: ${error.message})`, kind: "procedure" as const }]))
        )
        if (missing.length === 0) enabled.push(template)
        else problems.push(`${template.name} disabled: missing ${missing.map((m) => `${m.kind} ${m.object}`).join(", ")}`)
      }
      yield* Effect.logInfo(`templates: ${enabled.length} of ${served.length} served by this node enabled (${enabled.map((t) => t.name).join(", ") || "none"})`)
      const found: Found = { templates: enabled, adapters }
      if (problems.length > 0) return yield* new StepDegraded({ value: found, reason: problems.join("; ") })
      return found
    })
  }
  return step
}

/** What the templates step found: the templates to serve and the adapters to serve them with. */
export interface Found {
  readonly templates: ReadonlyArray<Template>
  readonly adapters: Adapters["Type"]
}
