import { fileURLToPath } from "node:url"

// Beside the build (dist/ or src/), so a node finds its files from any working directory.

/** config/: beds.toml and the env overrides, unless BEDS_CONFIG_DIR names another. */
export const defaultConfigDirectory = fileURLToPath(new URL("../../config", import.meta.url))
/** templates/: the data domains, unless `templates.directory` names another. */
export const defaultTemplatesDirectory = fileURLToPath(new URL("../../templates", import.meta.url))
/** schema/: the DBA's objects, unless `templates.schema_directory` names another. */
export const defaultSchemaDirectory = fileURLToPath(new URL("../../schema", import.meta.url))
/** schema/beds/: BEDS's own objects on each store (the idempotency store), applied with the DBA's. */
export const bedsSchemaDirectory = fileURLToPath(new URL("../../schema/beds", import.meta.url))
