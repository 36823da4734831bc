import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// Tests run against the TypeScript sources of every workspace package, so a
// change is tested without a build step.
// Except @crust/quic-lib, which has no sources (its build applies its patches
// to the published @matrixai/quic): it resolves to its built dist/, which
// `pnpm build`, `pnpm lint` and `pnpm test:unit` create first.
const source = (pkg: string, entry = 'index'): string =>
  fileURLToPath(new URL(`./packages/${pkg}/src/${entry}.ts`, import.meta.url))

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@crust\/core$/, replacement: source('core') },
      { find: /^@crust\/core\/testing$/, replacement: source('core', 'testing/index') },
      { find: /^@crust\/core\/plugin$/, replacement: source('core', 'plugin') },
      { find: /^@crust\/mux$/, replacement: source('mux') },
      { find: /^@crust\/transport-tcp$/, replacement: source('transport-tcp') },
      { find: /^@crust\/transport-quic$/, replacement: source('transport-quic') },
      { find: /^@crust\/discovery-beacon$/, replacement: source('discovery-beacon') },
      { find: /^@crust\/discovery-rendezvous$/, replacement: source('discovery-rendezvous') },
      { find: /^@crust\/nat$/, replacement: source('nat') },
      { find: /^@crust\/metrics-prometheus$/, replacement: source('metrics-prometheus') },
      { find: /^@crust\/metrics-opentelemetry$/, replacement: source('metrics-opentelemetry') },
    ],
  },
  // Parameter decorators (tsyringe @inject) need the legacy decorator transform.
  oxc: { decorator: { legacy: true } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'tools/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
