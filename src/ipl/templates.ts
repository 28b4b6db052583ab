import { Effect, type Either, Ref } from "effect"
import { makeAdapter } from "../adapters/adapters.js"
import type { BedsConfig } from "../config/schema.js"
import { ServiceUnavailable } from "../core/errors.js"
import { roleBrokers, roleServices } from "../roles/roles.js"
import { loadTemplates } from "../templates/load.js"
import { missingObjects } from "../templates/objects.js"
import type { AdapterName, Template } from "../templates/schema.js"
import type { NamasteCoreService } from "../core/namaste-core.js"
import type { IplStep } from "./runner.js"
import type { FileSystem, Path } from "@effect/platform"

/** Templates this node serves: routed to one of its brokers, on a store its role reaches. */
export const servedBy = (config: BedsConfig, template: Template): boolean => {
  const routes = new Set(roleBrokers[config.node.role].flatMap((type) => config.brokers[type].routes))
  return (routes.has(template.routes.read) || routes.has(template.routes.write)) &&
    (roleServices[config.node.role] as ReadonlyArray<string>).includes(template.adapter)
}

/**
 * The IPL step "templates": load and decode every template file, then check that each object a
 * served template names exists on its adapter. A template with a missing object fails the step:
 * fatal in prod; in dev and qa that template is disabled (left out of `enabled`) and the reason is
 * the step's. A bad template file fails the step in every env: no template is served then.
 */
export const templatesStep = (
  config: BedsConfig,
  directory: string,
  enabled: Ref.Ref<ReadonlyArray<Template>>
): IplStep<FileSystem.FileSystem | Path.Path> => ({
  name: "templates",
  target: directory,
  run: Effect.scoped(Effect.gen(function*() {
    const unavailable = (reason: string) => new ServiceUnavailable({ target: directory, reason })
    const loaded = yield* loadTemplates(directory).pipe(Effect.mapError((error) => unavailable(error.message)))
    const served = loaded.map((entry) => entry.template).filter((template) => servedBy(config, template))
    const problems: Array<string> = []
    const ok: Array<Template> = []
    // One adapter per kind for the check, closed when the step ends.
    const adapters = new Map<AdapterName, Either.Either<NamasteCoreService, string>>()
    for (const template of served) {
      if (!adapters.has(template.adapter)) adapters.set(template.adapter, yield* Effect.either(makeAdapter(config, template.adapter)))
      const adapter = adapters.get(template.adapter)!
      if (adapter._tag === "Left") {
        problems.push(`${template.name}: ${adapter.left}`)
        continue
      }
      const missing = yield* missingObjects(template, adapter.right).pipe(
        Effect.catchAll((error) => Effect.succeed([{ object: `(check failed: ${error.message})`, kind: "procedure" as const }]))
      )
      if (missing.length === 0) ok.push(template)
      else problems.push(`${template.name} disabled: missing ${missing.map((m) => `${m.kind} ${m.object}`).join(", ")}`)
    }
    yield* Ref.set(enabled, ok)
    yield* Effect.logInfo(`templates: ${ok.length} of ${served.length} served by this node enabled (${ok.map((t) => t.name).join(", ") || "none"})`)
    if (problems.length > 0) return yield* unavailable(problems.join("; "))
  }))
})
