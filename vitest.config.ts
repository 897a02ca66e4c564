import {configDefaults, defineConfig} from 'vitest/config'

/**
 * The tests that need the CLI as a process of its own: signals, descriptors
 * it inherits, a terminal, ulimit, mounts and privileges, pipes a reader
 * closes early, the peak memory of a run, node's start-up, and the fuzzing
 * of the real binary (a hang is killed there, not waited for). Every other
 * test runs commands in its own process (test/helpers/in-process.ts).
 */
const INTEGRATION = ['test/integration/**/*.test.ts', 'test/fuzz/cli.test.ts', 'test/fuzz/containers.test.ts']

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two workers suit the 2-core machines (for both projects together).
    maxWorkers: 2,
    // `npm test` runs both; `npm run test:unit` or `npm run test:integration` (vitest --project) one.
    projects: [
      {extends: true, test: {name: 'unit', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, ...INTEGRATION]}},
      {extends: true, test: {name: 'integration', include: INTEGRATION}},
    ],
  },
})
