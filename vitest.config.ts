import { defineConfig } from 'vitest/config';

// Two projects, which `npm test` runs at once as two lanes
// (scripts/test-lanes.mjs): the network-namespace tests one file at a time
// (real daemons on wall-clock timing), and everything else beside them
// (mostly CPU: the simulator, the unit tests). `vitest run` alone runs the
// two one after the other.
const NETNS = ['test/netns/**/*.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    projects: [
      { extends: true, test: { name: 'netns', include: NETNS, maxWorkers: 1 } },
      { extends: true, test: { name: 'rest', include: ['test/**/*.test.ts'], exclude: NETNS, maxWorkers: 1 } },
    ],
  },
});
