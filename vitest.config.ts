import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    // Integration tests boot real nodes against real services; these are ceilings, not speed checks.
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
