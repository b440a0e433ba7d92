import {defineConfig} from 'vitest/config'

// Browser end-to-end tests: real apps, real dev servers, headless Chromium. One file at a time (2 cores, and the
// dev servers bind their default ports); the apps are installed once by the global setup (cold cache: ~1 min).
export default defineConfig({
  test: {
    include: ['test/e2e-browser/**/*.test.ts'],
    globalSetup: ['test/e2e-browser/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    minWorkers: 1,
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
    teardownTimeout: 60_000,
  },
})
