import {defineConfig} from 'vitest/config'

// Two cores on these machines: keep workers low and timeouts generous.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e-browser/**', 'node_modules/**'],
    pool: 'forks',
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
})
